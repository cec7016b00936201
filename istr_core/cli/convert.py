"""``istr convert``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..formats import convert
from .support import Debug, err_console, friendly_errors, say


def run_convert(src: Path, to: str, out: Path, src_format: str | None, images: Path | None) -> None:
    if out.resolve() == src.resolve():
        raise ValueError(f"{out}: --out is the input; write the conversion somewhere else")
    result = convert(src, out, to, src_format, images)
    for w in result.warnings[:50]:
        say(f"warning: {w}")
    if len(result.warnings) > 50:
        err_console.print(f"warning: ... {len(result.warnings) - 50} more warnings", highlight=False)
    say(
        f"wrote {out} ({to}, from {result.source_format}): {result.images} images, {result.instances} "
        f"instances, {result.classes} classes, {len(result.warnings)} warnings"
    )


@friendly_errors()
def convert_command(
    source: Annotated[Path, typer.Argument(help="Annotations: a file or a dataset folder.")],
    to: Annotated[str, typer.Option(help="Output format: coco, cvat, labelme, voc or yolo.")],
    out: Annotated[Path, typer.Option(help="File (coco, cvat .xml) or folder to write.")],
    from_: Annotated[
        str | None, typer.Option("--from", help="Input format (default: detected from SOURCE).")
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(help="Images folder to copy into the output layout (yolo, voc, labelme, cvat)."),
    ] = None,
    debug: Debug = False,
):
    """Convert annotations between COCO, CVAT XML, labelme, VOC masks and YOLO-seg."""
    run_convert(source, to, out, from_, images)
