import subprocess
import sys


def test_istr_core_never_imports_qt():
    code = (
        "import sys; sys.modules['PySide6'] = None; sys.modules['istr_app'] = None\n"
        "import istr_core, istr_core.cli, istr_core.segment, istr_core.finetune, istr_core.inference\n"
        "import istr_core.eval.coco_eval, istr_core.training\n"
        "assert not any(m.startswith(('PySide6', 'istr_app')) and sys.modules[m] for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
