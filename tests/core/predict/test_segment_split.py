"""How `istr segment` under torchrun splits a folder: by pixel count from the headers, deterministically."""

import numpy as np

from istr_core.predict.distributed import image_pixels, split_by_pixels
from tests.cli.conftest import write_image


def test_split_takes_largest_first_into_the_least_loaded_rank():
    pixels = [10, 100, 30, 30, 40, 5]
    shares = split_by_pixels(pixels, 2)
    # 100 -> r0; 40 -> r1; 30 (idx 2) -> r1 (70); 30 (idx 3) -> r1 (100); 10 -> r0 (tie: lowest rank);
    # 5 -> r1
    assert shares == [[0, 1], [2, 3, 4, 5]]
    assert split_by_pixels(pixels, 2) == shares  # deterministic


def test_split_covers_every_image_once_and_balances():
    rng = np.random.default_rng(0)
    pixels = [int(p) for p in rng.integers(1_000, 2_000_000, 500)]
    shares = split_by_pixels(pixels, 4)
    assert sorted(i for s in shares for i in s) == list(range(500))
    assert all(s == sorted(s) for s in shares)  # each rank works in folder order
    loads = [sum(pixels[i] for i in s) for s in shares]
    assert max(loads) - min(loads) <= max(pixels)


def test_split_with_more_ranks_than_images_and_unknown_sizes():
    assert split_by_pixels([None, 50, None], 5) == [[0], [1], [2], [], []]  # unknown: the median
    assert split_by_pixels([], 3) == [[], [], []]


def test_image_pixels_reads_the_header(tmp_path):
    path = write_image(tmp_path / "a.png", np.zeros((30, 70, 3), np.uint8))
    assert image_pixels(path) == 2100
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    assert image_pixels(tmp_path / "bad.jpg") is None
