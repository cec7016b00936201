"""read_image: one predictable format from every kind of file real folders hold."""

import numpy as np
import pytest
from PIL import Image

from istr_core.data.images import ImageReadError, list_images, read_image


def test_grey_rgba_palette_16bit_and_cmyk_become_rgb_uint8(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (10, 12), dtype=np.uint8)).save(tmp_path / "g.png")
    Image.fromarray(rng.integers(0, 255, (10, 12, 4), dtype=np.uint8), "RGBA").save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)).convert("P").save(tmp_path / "p.png")
    Image.fromarray(np.full((10, 12), 65535, dtype=np.uint16)).save(tmp_path / "d.tif")
    Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)).convert("CMYK").save(
        tmp_path / "c.jpg"
    )
    for name in ("g.png", "a.png", "p.png", "d.tif", "c.jpg"):
        image = read_image(tmp_path / name)
        assert image.shape == (10, 12, 3) and image.dtype == np.uint8, name
    assert read_image(tmp_path / "d.tif").min() == 255  # 16-bit white stays white, not truncated


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
    img.save(tmp_path / "rot.jpg", exif=exif, quality=100)
    upright = read_image(tmp_path / "rot.jpg")
    assert upright.shape == (40, 20, 3)
    assert upright[:20].mean() > 200 and upright[20:].mean() < 50  # white half is now on top


def test_colour_order_is_rgb(tmp_path):
    Image.fromarray(np.array([[[255, 0, 0]]], np.uint8)).save(tmp_path / "red.png")
    assert read_image(tmp_path / "red.png")[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n garbage", "not a readable image"),
        (b"hello", "not a readable image"),
    ],
)
def test_bad_files_raise_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=message):
        read_image(path)


def test_huge_images_are_refused_from_the_header(tmp_path):
    Image.new("L", (3000, 2000)).save(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match="3000x2000"):
        read_image(tmp_path / "big.png", max_pixels=1_000_000)


def test_non_ascii_and_space_names(tmp_path):
    path = tmp_path / "façade ñ 图像.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    assert read_image(path).shape == (4, 4, 3)
    assert list_images(tmp_path) == [path]
