import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from istr_core.cli import app


@pytest.fixture
def run():
    """Invoke the real `istr` CLI in-process; returns the click Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


def write_image(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(path.suffix, array)
    assert ok
    path.write_bytes(data.tobytes())
    return path


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
