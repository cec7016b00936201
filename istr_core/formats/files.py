"""Writing a dataset to disk without ever leaving half of it: every file is rendered in memory
first (so a problem is found before anything is written), then written.

A new output folder is built beside its final place and renamed into it; into an existing folder
(labelme JSON beside the images) each file is written atomically on its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from ..data.atomic import write_atomic
from .dataset import AnnotationError, ImageEntry, image_size, resolve_image_path


def write_tree(out: Path, files: dict[str, bytes], copies: dict[str, Path] | None = None) -> Path:
    """Write ``files`` ({relative path: content}) and copy ``copies`` ({relative path: source})
    under ``out``."""
    copies = copies or {}
    for rel in [*files, *copies]:
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts:
            raise AnnotationError(f"{out}: refusing to write {rel!r} outside the output folder")
    if out.exists() and not out.is_dir():
        raise AnnotationError(f"{out}: exists and is not a folder")
    if out.is_dir():
        for rel, data in files.items():
            write_atomic(out / rel, lambda f, d=data: f.write(d), binary=True)
        for rel, src in copies.items():
            _copy(src, out / rel)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, data in files.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_bytes(data)
        for rel, src in copies.items():
            _copy(src, staging / rel)
        os.chmod(staging, 0o777 & ~_umask())
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _copy(src: Path, dst: Path) -> None:
    if dst.exists() and dst.resolve() == src.resolve():
        return  # writing beside the images themselves
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def image_copies(images: list[ImageEntry], images_dir: Path | None, prefix: str = "") -> dict[str, Path]:
    """{prefix + file_name: source} for the images found in ``images_dir`` (none without it).

    A listed image missing from the folder is an error: an output that silently lacks images would
    load back with fewer of them. So is one of another size than the annotations say: its masks
    (written at the annotations' size) would not fit the copied image."""
    if images_dir is None:
        return {}
    if not images_dir.is_dir():
        raise AnnotationError(f"images folder not found: {images_dir}")
    out = {}
    for im in images:
        src = resolve_image_path(images_dir, im.file_name)
        if not src.is_file():
            raise AnnotationError(
                f"{images_dir}: image {im.file_name!r} not found (listed in the annotations)"
            )
        if (size := image_size(src)) != (im.width, im.height):
            raise AnnotationError(
                f"{src}: the image is {size[0]}x{size[1]}, the annotations say {im.width}x{im.height} "
                "(fix their width and height)"
            )
        out[prefix + im.file_name] = src
    return out
