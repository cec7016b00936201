"""pytest-qt fixtures: a window on a folder of small synthetic images with the tiny checkpoint."""

from pathlib import Path

import pytest

from istr_core.train.synthetic import write_synthetic_coco


@pytest.fixture
def image_dir(tmp_path) -> Path:
    folder = tmp_path / "images"
    write_synthetic_coco(folder, 3, height=96, width=128, seed=2, max_objects=3, json_name="truth.json")
    return folder


@pytest.fixture
def make_window(qtbot, tiny_checkpoint):
    from istr_app.main import build_window, parse_args

    def make(folder: Path, *extra: str, weights: bool = True):
        argv = [str(folder), "--recover", "no", *extra]
        argv += ["--weights", str(tiny_checkpoint)] if weights else ["--no-model"]
        window = build_window(parse_args(argv), folder)
        window.ask_on_close = False
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        window.canvas.setFocus()
        qtbot.waitUntil(window.isActiveWindow, timeout=2000)
        return window

    return make
