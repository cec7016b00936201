"""GUI responsiveness under load (issue 6): 10,000 images in the list, 300 instances on one image.

Builds the real window offscreen (``QT_QPA_PLATFORM=offscreen``, no model) on a folder of N tiny PNGs
plus one ``--width x --height`` photo-sized image whose annotations file holds ``--instances``
polygons, then times what a reviewer does. Each "frame" is one user action followed by
``processEvents()`` and a synchronous ``repaint()`` of the whole window, so it is the time from the
action to the updated pixels; the offscreen backend paints into memory, so this is the CPU side of a
frame (what blocks the event loop), without the compositor. Prints one JSON line (milliseconds).

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_load.py [--images 10000] [--instances 300]
        [--training resources/default_model.pt]

``--training CKPT`` loads that model and starts the online learning loop on the big image (its
instances as the reviewed masks) before timing, so every frame is measured while the model trains in
the background (rounds finish and swap models during the run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_folder(folder: Path, count: int, width: int, height: int, instances: int) -> Path:
    """``count`` 32x24 PNGs (one file copied: fast) + ``big.png`` and a COCO file with ``instances``
    circles on it in a grid, each a 24-point polygon."""
    folder.mkdir(parents=True, exist_ok=True)
    tiny = folder / "img_000000.png"
    cv2.imwrite(str(tiny), np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8))
    for i in range(1, count):
        shutil.copyfile(tiny, folder / f"img_{i:06d}.png")
    rng = np.random.default_rng(1)
    cv2.imwrite(str(folder / "big.png"), rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    cols = int(np.ceil(np.sqrt(instances * width / height)))
    rows = int(np.ceil(instances / cols))
    cw, ch = width / cols, height / rows
    radius = 0.45 * min(cw, ch)
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    anns = []
    for k in range(instances):
        cx, cy = (k % cols + 0.5) * cw, (k // cols + 0.5) * ch
        poly = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1).ravel().round(1)
        x0, y0 = cx - radius, cy - radius
        anns.append(
            {
                "id": k + 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [poly.tolist()],
                "bbox": [x0, y0, 2 * radius, 2 * radius],
                "area": float(np.pi * radius**2),
                "iscrowd": 0,
                "score": float(0.3 + 0.7 * rng.random()),
            }
        )
    coco = {
        "images": [{"id": 1, "file_name": "big.png", "width": width, "height": height}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "object"}],
    }
    path = folder.parent / "big_annotations.json"
    path.write_text(json.dumps(coco))
    return path


def start_training(window, app, big: int) -> None:
    """Feed the big image to the online loop as reviewed and wait until its first step has run."""
    window.controller.set_current(big)
    window.learn_from(window.controller.record.key)
    deadline = time.monotonic() + 600
    while window.online.trainer is None or window.online.trainer.step < 1:
        app.processEvents()
        time.sleep(0.05)
        if time.monotonic() > deadline:
            raise TimeoutError("the online loop did not start training within 10 minutes")


def summary(times: list[float]) -> dict:
    ms = sorted(1000 * t for t in times)
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 1), "max_ms": round(ms[-1], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--instances", type=int, default=300)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--training", type=Path, metavar="CKPT", help="time frames while online learning runs")
    args = ap.parse_args()

    from PySide6.QtWidgets import QApplication

    import istr_app.ui.main_window  # noqa: F401 - imports (torch ...) are start-up cost, timed apart
    from istr_app.main import build_window, parse_args

    app = QApplication.instance() or QApplication([])
    work = Path(tempfile.mkdtemp(prefix="istr_gui_load_"))
    try:
        folder = work / "images"
        t = time.perf_counter()
        anns = make_folder(folder, args.images, args.width, args.height, args.instances)
        make_s = time.perf_counter() - t

        def frame(action) -> float:
            start = time.perf_counter()
            action()
            app.processEvents()
            window.repaint()
            return time.perf_counter() - start

        t = time.perf_counter()
        window = build_window(
            parse_args(
                [
                    str(folder),
                    *(["--weights", str(args.training)] if args.training else ["--no-model"]),
                    "--recover",
                    "no",
                    "--annotations",
                    str(anns),
                    "--threshold",
                    "0.05",
                ]
            ),
            folder,
        )
        window.ask_on_close = False
        window.resize(1600, 1000)
        window.show()
        app.processEvents()
        window.repaint()
        open_s = time.perf_counter() - t
        c = window.controller
        records = len(c.project.records)
        big = c.project.index_of("big.png")
        results: dict[str, dict] = {}
        if args.training:
            start_training(window, app, big)

        # navigation through the 10,000-row list
        results["next_image"] = summary([frame(lambda: c.step(1)) for _ in range(args.repeats)])
        results["jump_to_last_row"] = summary(
            [frame(lambda i=i: window.image_list.setCurrentRow(records - 1 - i)) for i in range(args.repeats)]
        )
        bar = window.image_list.verticalScrollBar()
        results["scroll_list_page"] = summary(
            [frame(lambda i=i: bar.setValue((i * 997) % max(1, bar.maximum()))) for i in range(args.repeats)]
        )
        results["open_300_instance_image"] = summary(
            [frame(lambda: c.set_current(big))]
            + [
                frame(lambda j=j: c.set_current(big + (-1) ** j)) or frame(lambda: c.set_current(big))
                for j in range(4)
            ]
        )
        shown = c.visible_instances()
        assert len(shown) == args.instances, (len(shown), args.instances)

        # work on the image with many instances
        canvas = window.canvas
        ids = [i.id for i in shown]
        results["select_instance"] = summary(
            [frame(lambda k=k: c.select([ids[(k * 37) % len(ids)]])) for k in range(args.repeats)]
        )
        results["hover_move"] = summary(
            [frame(lambda k=k: canvas.tool_move(10 + 7 * k, 10 + 5 * k)) for k in range(args.repeats)]
        )
        results["slider_move"] = summary(
            [frame(lambda k=k: window.slider.setValue(5 + (k * 7) % 90)) for k in range(args.repeats)]
        )
        window.slider.setValue(5)
        app.processEvents()
        c.select([ids[0]])
        c.brush_radius = 6
        x0, y0 = np.argwhere(shown[0].mask)[0][::-1]
        results["brush_stroke_edit"] = summary(
            [frame(lambda k=k: c.paint([(x0 + k, y0), (x0 + k + 10, y0 + 5)])) for k in range(args.repeats)]
        )
        results["undo"] = summary([frame(c.undo) for _ in range(args.repeats)])
        results["redo"] = summary([frame(c.redo) for _ in range(args.repeats)])
        results["repaint_only"] = summary([frame(lambda: None) for _ in range(args.repeats)])
        t = time.perf_counter()
        c.save(work / "saved.json")
        save_s = time.perf_counter() - t
        c.flush_autosave()
        print(
            json.dumps(
                {
                    "images": records,
                    "instances_on_big_image": args.instances,
                    "big_image": [args.width, args.height],
                    "make_folder_s": round(make_s, 1),
                    "open_window_s": round(open_s, 2),
                    "save_s": round(save_s, 2),
                    "frames": results,
                    "qt_platform": os.environ.get("QT_QPA_PLATFORM"),
                    "training": str(args.training) if args.training else None,
                    "training_steps_during_run": window.online.trainer.step if args.training else 0,
                    "model_swaps": window.online_round.round if window.online_round else 0,
                }
            )
        )
        window.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
