"""Reading user images into one predictable format: HxWx3 uint8 RGB, upright.

Real folders hold grayscale scans, RGBA screenshots, 16-bit microscopy, CMYK JPEGs and phone photos
whose pixels are stored sideways with an EXIF orientation tag. Everything downstream (model, GUI,
exporters) assumes one format, so every conversion happens here and nowhere else.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# Images above this many pixels are refused rather than risking the machine's memory
# (12000x9000 = 108 MP would need ~1.3 GB as float on the model side).
MAX_PIXELS = 50_000_000
EXIF_ORIENTATION = 0x0112  # tag values 5-8: stored sideways


class ImageReadError(ValueError):
    """An image file that cannot be used; the message names the file and the reason."""


def list_images(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Image files under ``folder`` sorted by path, so every run visits them in the same order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode ``path`` to an upright HxWx3 uint8 RGB array or raise :class:`ImageReadError`.

    ``cv2.imdecode`` on the raw bytes (instead of ``cv2.imread``) accepts non-ASCII paths on every OS;
    IMREAD_COLOR applies the EXIF orientation and converts grey/palette/CMYK, IMREAD_ANYDEPTH keeps
    16-bit data so it can be rescaled instead of truncated.
    """
    path = Path(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file")
    _check_size_before_decoding(path, data, max_pixels)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if image is None or image.size == 0:
        raise ImageReadError(f"{path}: not a readable image (corrupt, truncated or unsupported format)")
    _check_pixels(path, image.shape[1], image.shape[0], max_pixels)  # formats Pillow cannot parse
    return _to_rgb_uint8(image)


def _check_size_before_decoding(path: Path, data: np.ndarray, max_pixels: int) -> None:
    """Refuse huge images from their header so a 100-megapixel file never gets decoded."""
    try:
        import io
        import warnings

        from PIL import Image  # Pillow ships with torchvision; header parsing only

        # our own limit speaks, not Pillow's warning (a filter, not catch_warnings: this runs in threads)
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data.tobytes())) as img:
            width, height = img.size
    except ImportError:
        return
    except Image.DecompressionBombError as exc:  # Pillow's own limit (~179 MP), far above ours
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        size = f" ({int(pixels.group(1)) / 1e6:.0f} MP)" if pixels else ""
        raise ImageReadError(
            f"{path}: image is too large{size}, above the {max_pixels / 1e6:.0f} MP limit; downscale it first"
        ) from None
    except Exception:
        return  # let OpenCV decide whether it is an image at all
    _check_pixels(path, width, height, max_pixels)


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageReadError(
            f"{path}: image is {width}x{height} ({width * height / 1e6:.0f} MP), above the "
            f"{max_pixels / 1e6:.0f} MP limit; downscale it first"
        )


def _to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) * (255.0 / 65535.0)).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(image)


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 RGB -> (3, H, W) float in [0, 1], what the model takes."""
    import torch  # here, so that reading images and annotation files does not load torch

    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image file from its header, EXIF rotation applied (the size
    :func:`read_image` returns), without decoding the pixels; :class:`ImageReadError` when Pillow
    cannot tell (not an image, truncated, unreadable, or beyond its size limit)."""
    import warnings

    from PIL import Image

    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)  # as in read_image
    try:
        with Image.open(path) as im:
            w, h = im.size
            rotated = im.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, ValueError, SyntaxError, bomb errors
        raise ImageReadError(f"{path}: not a readable image ({exc})") from None
    return (h, w) if rotated else (w, h)
