"""The ``istr`` command itself: its version, and ``python -m istr_core`` runs it."""

import subprocess
import sys

import istr_core


def test_version(run):
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"istr {istr_core.__version__}"


def test_python_m_istr_core_is_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "istr_core", "--version"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"istr {istr_core.__version__}"


def test_help_and_the_formats_do_not_load_torch():
    """``istr --help``, ``--version`` and the annotation formats answer in about a second: loading
    torch (several seconds on a laptop) waits until a command needs the model."""
    code = (
        "import sys, istr_core, istr_core.cli, istr_core.formats\n"
        "assert istr_core.__version__\n"
        "assert 'torch' not in sys.modules, 'torch loaded'\n"
        "from istr_core import build_model\n"  # the package's model names still load on first use
        "assert callable(build_model) and 'torch' in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
