import subprocess
import sys


def test_istr_core_never_imports_qt():
    code = (
        "import sys; sys.modules['PySide6'] = None; sys.modules['istr_app'] = None\n"
        "import importlib, pkgutil, istr_core\n"
        "for m in pkgutil.walk_packages(istr_core.__path__, 'istr_core.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "assert not any(m.startswith(('PySide6', 'istr_app')) and sys.modules[m] for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
