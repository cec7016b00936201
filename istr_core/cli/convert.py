"""``istr convert``."""

from __future__ import annotations

from pathlib import Path

from ..formats import check_format, convert
from .support import err_console


def run_convert(src: Path, to: str, out: Path, src_format: str | None, images: Path | None) -> None:
    if out.resolve() == src.resolve():
        raise ValueError(f"{out}: --out is the input; write the conversion somewhere else")
    result = convert(src, out, to, src_format, images)
    for w in result.warnings[:50]:
        err_console.print(f"warning: {w}", highlight=False, soft_wrap=True)
    if len(result.warnings) > 50:
        err_console.print(f"warning: ... {len(result.warnings) - 50} more warnings", highlight=False)
    err_console.print(
        f"wrote {out} ({to}, from {result.source_format}): {result.images} images, {result.instances} "
        f"instances, {result.classes} classes, {len(result.warnings)} warnings",
        highlight=False,
        soft_wrap=True,
    )


def run_segment_as(format_: str, folder: Path, out: Path, *segment_args) -> None:
    """``istr segment --format F``: segment into a hidden COCO file beside ``out`` (so ``--resume``
    works as for COCO), convert it to ``F`` with the images of ``folder``, then remove it."""
    from .segment import run_segment

    check_format(format_)
    coco_out = out.parent / f".{out.name}.coco.json"
    if not run_segment(folder, coco_out, *segment_args):
        return  # another torchrun rank: rank 0 converts
    result = convert(coco_out, out, format_, "coco", folder)
    for w in result.warnings[:20]:
        err_console.print(f"warning: {w}", highlight=False, soft_wrap=True)
    coco_out.unlink()
    err_console.print(
        f"converted to {format_}: wrote {out} ({result.images} images, {result.instances} instances)",
        highlight=False,
        soft_wrap=True,
    )
