"""`istr segment` (and `istr eval`) on every odd image file real folders hold: one run, one verdict per file.

Each case is a file in one folder; `segment` either labels it (expected size given) or prints one
`warning: skipped <file>: <problem>` line and leaves it out. The output is still a complete COCO file.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from istr_core.cli import app
from istr_core.predict.journals import journal_path
from tests.robustness.conftest import encode, exif_rotated_jpeg, palette_png, png_header_only

RNG = np.random.default_rng(0)
_good_jpeg = encode(RNG.integers(0, 255, (48, 64, 3), dtype=np.uint8), ".jpg")
_sideways = np.zeros((20, 40, 3), np.uint8)
_sideways[:, :20] = 255

# file name -> (bytes, expected (width, height) or the fragment of the skip warning)
CASES: dict[str, tuple[bytes, tuple[int, int] | str]] = {
    "empty.jpg": (b"", "empty file"),
    "truncated.jpg": (_good_jpeg[: len(_good_jpeg) // 3], "not a readable image"),
    "text.png": (b"just some text, not a picture", "not a readable image"),
    "html.jpg": (b"<html><body>404</body></html>", "not a readable image"),
    "huge 12000x9000.png": (png_header_only(12000, 9000), "12000x9000 (108 MP), above the 50 MP limit"),
    "bomb 20000x20000.png": (png_header_only(20000, 20000), "(400 MP), above the 50 MP limit"),
    "one pixel.png": (encode(np.full((1, 1, 3), 128, np.uint8)), (1, 1)),
    "thin 1x1500.png": (encode(np.zeros((1, 1500, 3), np.uint8)), (1500, 1)),
    "grey.png": (encode(RNG.integers(0, 255, (30, 40), dtype=np.uint8)), (40, 30)),
    "rgba.png": (encode(RNG.integers(0, 255, (30, 20, 4), dtype=np.uint8)), (20, 30)),
    "deep16.png": (encode(RNG.integers(0, 65535, (25, 35), dtype=np.uint16)), (35, 25)),
    "deep16.tif": (encode(RNG.integers(0, 65535, (25, 35), dtype=np.uint16), ".tif"), (35, 25)),
    "palette.png": (
        palette_png(RNG.integers(0, 4, (24, 32)), [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9)]),
        (32, 24),
    ),
    "exif rotated.jpg": (exif_rotated_jpeg(_sideways), (20, 40)),  # stored 40x20, shown 20x40
    "UPPER.PNG": (encode(np.zeros((8, 8, 3), np.uint8)), (8, 8)),
    "façade ñ 图像.png": (encode(np.zeros((8, 9, 3), np.uint8)), (9, 8)),
}
NON_UTF8 = os.fsdecode(b"caf\xe9 latin1.png")  # a Linux name that is not UTF-8: kept as surrogates


def _cmyk_jpeg() -> bytes | None:
    try:
        from PIL import Image
    except ImportError:
        return None
    import io

    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 255, (16, 24, 3), dtype=np.uint8)).convert("CMYK").save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def segmented(tmp_path_factory, tiny_checkpoint):
    """Run `istr segment` once over a folder holding every case; returns (result, output JSON)."""
    folder = tmp_path_factory.mktemp("odd") / "images"
    folder.mkdir()
    for name, (data, _) in CASES.items():
        (folder / name).write_bytes(data)
    (folder / NON_UTF8).write_bytes(encode(np.zeros((8, 8, 3), np.uint8)))
    cmyk = _cmyk_jpeg()
    if cmyk:
        (folder / "cmyk.jpg").write_bytes(cmyk)
    out = folder.parent / "out.json"
    result = CliRunner().invoke(
        app,
        [
            "segment",
            str(folder),
            "--out",
            str(out),
            "--weights",
            str(tiny_checkpoint),
            "--score-threshold",
            "0.5",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and not journal_path(out).exists()
    return result, json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_odd_file_is_labelled_or_skipped_with_one_line(segmented, name):
    result, coco = segmented
    expected = CASES[name][1]
    sizes = {im["file_name"]: (im["width"], im["height"]) for im in coco["images"]}
    warnings = [line for line in result.stderr.splitlines() if name in line]
    if isinstance(expected, tuple):
        assert sizes.get(name) == expected and not warnings
    else:
        assert name not in sizes
        assert len(warnings) == 1 and warnings[0].startswith("warning: skipped") and expected in warnings[0]


def test_non_utf8_file_name_is_skipped_and_named_readably(segmented):
    result, coco = segmented
    assert "caf\\xe9 latin1.png: file name is not valid UTF-8" in result.stderr
    assert all("latin1" not in im["file_name"] for im in coco["images"])


def test_cmyk_jpeg_becomes_rgb(segmented):
    if _cmyk_jpeg() is None:
        pytest.skip("Pillow is not installed: no way to write a CMYK JPEG")
    sizes = {im["file_name"]: (im["width"], im["height"]) for im in segmented[1]["images"]}
    assert sizes["cmyk.jpg"] == (24, 16)


def test_summary_counts_the_skipped_files(segmented):
    result, coco = segmented
    skipped = sum(isinstance(e, str) for _, e in CASES.values()) + 1  # + the non-UTF-8 name
    assert f"{skipped} skipped" in result.stderr
    assert len(coco["images"]) == len(CASES) - skipped + 1 + (1 if _cmyk_jpeg() else 0)


@pytest.mark.parametrize("name", ["truncated.jpg", "huge 12000x9000.png"])
def test_eval_and_finetune_refuse_an_unusable_image_naming_it(run, tiny_checkpoint, tmp_path, name):
    """Training and evaluation need every listed image: one bad file is an error, not a skip."""
    from tests.robustness.conftest import assert_clean_failure

    (tmp_path / name).write_bytes(CASES[name][0])
    ann = tmp_path / "a.json"
    ann.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": name, "width": 64, "height": 48}],
                "categories": [{"id": 1, "name": "ellipse"}],
                "annotations": [
                    {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 30, 2, 30, 30]]}
                ],
            }
        )
    )
    r = run("eval", ann, "--images", tmp_path, "--weights", tiny_checkpoint, "--device", "cpu")
    assert_clean_failure(r, name, CASES[name][1])
    out = tmp_path / "ft.pt"
    r = run(
        "finetune",
        ann,
        "--images",
        tmp_path,
        "--weights",
        tiny_checkpoint,
        "--out",
        out,
        "--iterations",
        "1",
        "--device",
        "cpu",
    )
    assert_clean_failure(r, name, CASES[name][1], out=out)
