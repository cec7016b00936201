"""The document, commands, COCO, autosave and geometry modules must work without Qt."""

import subprocess
import sys

CODE = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'PySide6':
            raise ImportError('Qt blocked')
sys.meta_path.insert(0, Block())
import istr_app.document, istr_app.commands, istr_app.coco_io, istr_app.autosave, istr_app.core.geometry
print('ok')
"""


def test_model_modules_import_without_qt():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
