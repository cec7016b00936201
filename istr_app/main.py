"""``istr-app [DIR] [--weights CKPT] [--annotations FILE]``: start the GUI (or a headless self-check).

User mistakes (missing folder, bad checkpoint, unreadable COCO) end with one line on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_USAGE = 2


class PrintVersion(argparse.Action):
    """``--version``: istr_core's version, imported only when asked (it imports torch)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from istr_core import __version__

        print(f"{parser.prog} {__version__}")
        parser.exit()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="istr-app", description="ISTR Studio: review and correct instance masks."
    )
    p.add_argument("dir", nargs="?", type=Path, help="folder of images (asked for when omitted)")
    p.add_argument("--weights", type=Path, help="ISTR checkpoint (default: the embedded model if present)")
    p.add_argument("--no-model", action="store_true", help="start without a model (box tool uses GrabCut)")
    p.add_argument(
        "--annotations",
        type=Path,
        help="annotations to review and save to: COCO JSON, CVAT XML, or a labelme / VOC / YOLO folder",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument(
        "--recover",
        choices=("ask", "yes", "no"),
        default="ask",
        help="what to do with an autosave of an unsaved session (default: ask)",
    )
    p.add_argument("--threshold", type=float, default=0.3, help="initial confidence slider position (0.05-1)")
    p.add_argument(
        "--prelabel", action="store_true", help="pre-label the first image at start, shown before any price"
    )
    p.add_argument(
        "--no-online",
        action="store_true",
        help="do not learn in the background from images marked reviewed",
    )
    p.add_argument(
        "--online-steps", type=int, default=20, help="training steps per online learning round (default 20)"
    )
    p.add_argument(
        "--snap-edges",
        action="store_true",
        help="let the pre-label gate also price outlines snapped to the image's edges, and show them "
        "where that was cheaper on your last reviewed images (helps on crisp microscopy blobs)",
    )
    p.add_argument(
        "--exemplars",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="let the pre-label gate also price the objects found like the ones you reviewed on images "
        "of the same size (no model), and show those instead of the model's where that was cheaper",
    )
    p.add_argument(
        "--seeded",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="let the pre-label gate also price 'click the first 3 objects, then find the rest like them' "
        "on your reviewed images, and where that was cheaper, search each new image after your 3rd object",
    )
    p.add_argument("--screenshot", type=Path, help="headless self-check: save a window screenshot and exit")
    p.add_argument("--version", action=PrintVersion)
    return p.parse_args(argv)


class UsageError(Exception):
    """A problem with the user's input, reported as one line."""


def load_segmenter(args: argparse.Namespace):
    """The model to pre-label with, or None (no --weights and no embedded default model)."""
    from istr_core.data.shipped import DEFAULT_MODEL
    from istr_core.formats.locations import resolve_weights
    from istr_core.predict.segmenter import Segmenter

    if args.no_model:
        return None
    if args.weights is None and not DEFAULT_MODEL.is_file():
        return None
    args.weights = resolve_weights(args.weights, args.dir)  # a name: anns -> anns.pt, DIR/.istr_models/
    if args.weights is not None and not args.weights.is_file():
        raise UsageError(f"checkpoint {args.weights} does not exist")
    try:
        return Segmenter.from_checkpoint(args.weights, device=args.device)
    except Exception as e:  # noqa: BLE001 - any load failure of a user file is a usage error
        raise UsageError(f"cannot load checkpoint {args.weights or DEFAULT_MODEL}: {e}") from None


def build_window(args: argparse.Namespace, folder: Path):
    """Project + model + controller + window, with recovery handled per ``args.recover``."""
    from istr_core.formats.dataset import AnnotationError

    from .controller import Controller, load_project
    from .ui.main_window import MainWindow

    segmenter = load_segmenter(args)
    try:
        project, warnings = load_project(folder, args.annotations)
    except (AnnotationError, KeyError, TypeError, ValueError) as e:
        raise UsageError(f"cannot open annotations {args.annotations}: {e}") from None
    controller = Controller(project, args.annotations, segmenter, args.weights)
    controller.threshold = min(1.0, max(0.05, args.threshold))
    window = MainWindow(
        controller,
        show_unpriced=args.prelabel,
        snap_edges=args.snap_edges,
        exemplars=args.exemplars,
        seeded=args.seeded,
    )
    if args.screenshot is not None:  # read-only self-check: show any unsaved work, write nothing
        controller.autosave_enabled, args.recover = False, "yes" if args.recover == "ask" else args.recover
    handle_recovery(controller, window, args.recover)
    if not args.no_online and args.screenshot is None:
        window.enable_online_learning(args.online_steps)
    controller.set_current(0)
    for w in warnings:
        controller.message.emit(w)
    return window


def handle_recovery(controller, window, choice: str) -> None:
    """Unsaved work from a crashed/killed session: restore it or discard it (``choice`` yes/no,
    or ask with a dialog). A read-only self-check never discards."""
    from .core import autosave
    from .ui.widgets import dialogs

    path = controller.autosave_path
    if not autosave.recovery_available(path):
        return
    if choice == "ask":
        choice = "yes" if dialogs.ask_recover(window, path) else "no"
    if choice == "yes":
        controller.recover()
    elif controller.autosave_enabled:
        autosave.discard(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from .platform_check import xcb_problem

    problem = xcb_problem()  # before Qt: a missing X11 library makes it abort without a name
    if problem:
        print(f"istr-app: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from PySide6.QtWidgets import QApplication, QFileDialog

    from .qt_check import broken_binding_message

    problem = broken_binding_message()
    if problem:
        print(f"istr-app: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    app = QApplication.instance() or QApplication(sys.argv[:1])
    folder = args.dir
    if folder is None and args.screenshot is None:
        folder = Path(QFileDialog.getExistingDirectory(None, "Open image folder") or ".")
    if folder is None or not folder.is_dir():
        print(f"istr-app: error: folder {folder} does not exist", file=sys.stderr)
        return EXIT_USAGE
    try:
        window = build_window(args, folder.resolve())
    except UsageError as e:
        print(f"istr-app: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.screenshot is not None:
        return self_check(app, window, args)
    if args.prelabel:
        window.on_prelabel()
    window.show()
    return app.exec()


def self_check(app, window, args: argparse.Namespace) -> int:
    """Pre-label the first image synchronously (if asked), render, save the window, exit 0."""
    window.ask_on_close = False
    if args.prelabel:
        window.controller.prelabel_current_sync()
        window.controller.select([i.id for i in window.controller.visible_instances()[:1]])
    window.show()
    for _ in range(5):
        app.processEvents()
    window.canvas.fit()
    app.processEvents()
    args.screenshot.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(args.screenshot))
    n = len(window.controller.visible_instances())
    window.controller.dirty = False
    window.close()
    if not ok:
        print(f"istr-app: error: cannot write {args.screenshot}", file=sys.stderr)
        return EXIT_USAGE
    print(f"screenshot written to {args.screenshot} ({n} instances shown)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
