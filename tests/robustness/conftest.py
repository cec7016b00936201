"""Helpers for the robustness suite: crafted files and one assertion for every clean failure."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from tests.cli.conftest import run  # noqa: F401  (the `run` fixture: the real CLI in-process)


def assert_clean_failure(result, *fragments: str, out: Path | None = None, old: bytes | None = None) -> None:
    """Exit 2, one `error:` line containing every fragment, no traceback, no partial --out file."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    if out is not None:
        assert out.read_bytes() == old if old is not None else not out.exists()
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")], "temp file left"


def encode(array: np.ndarray, ext: str = ".png") -> bytes:
    ok, data = cv2.imencode(ext, array)
    assert ok
    return data.tobytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height but holds almost no pixel data: a huge image for free.
    If the size check were skipped, decoding it would fail with a different message."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


def palette_png(indices: np.ndarray, palette: list[tuple[int, int, int]]) -> bytes:
    """An 8-bit palette (colour type 3) PNG written by hand, so Pillow is not needed."""
    h, w = indices.shape
    raw = b"".join(b"\0" + bytes(row.astype(np.uint8)) for row in indices)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
        + _chunk(b"PLTE", b"".join(bytes(c) for c in palette))
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def exif_rotated_jpeg(pixels: np.ndarray, orientation: int = 6) -> bytes:
    """A JPEG of ``pixels`` (RGB) with an EXIF orientation tag inserted by hand after SOI."""
    jpeg = encode(np.ascontiguousarray(pixels[:, :, ::-1]), ".jpg")
    tiff = (
        b"II*\x00"
        + struct.pack("<I", 8)
        + struct.pack("<H", 1)
        + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
        + struct.pack("<I", 0)
    )
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]
