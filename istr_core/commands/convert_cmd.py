"""``istr convert``."""

from __future__ import annotations

from pathlib import Path

from ..cli_support import err_console
from ..formats import convert


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
