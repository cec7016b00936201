"""istr_app.core (document, edits, project file, autosave, geometry) and the start-up platform check
must work without Qt."""

import subprocess
import sys

CODE = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'PySide6':
            raise ImportError('Qt blocked')
sys.meta_path.insert(0, Block())
import istr_app.core.document, istr_app.core.edits, istr_app.core.project_io, istr_app.core.autosave
import istr_app.core.geometry, istr_app.platform_check
istr_app.platform_check.xcb_problem({'QT_QPA_PLATFORM': 'offscreen'}, 'linux')
print('ok')
"""


def test_model_modules_import_without_qt():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
