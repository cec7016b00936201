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
