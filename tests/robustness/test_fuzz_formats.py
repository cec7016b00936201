"""Every annotation reader under seeded mutation fuzzing (issue 32; the mutations and the invariants
are in tests/robustness/fuzzing.py): a fuzzed file loads, into a dataset with finite coordinates,
polygons of at least 3 points, masks of their image's size and known classes, with one warning line
naming the file per object dropped or mended, or it is refused with one line naming the file.

The seed changes every day (``ISTR_FUZZ_SEED`` sets it), so CI keeps looking at new cases; a failure
names the seed and the case, and ``replay`` reruns it. ``-m slow`` runs 10,000 cases per reader."""

from __future__ import annotations

import datetime
import json
import os

import pytest

from tests.robustness.fuzzing import READERS, run_cases

SEED = int(os.environ.get("ISTR_FUZZ_SEED", datetime.date.today().strftime("%Y%m%d")))
CASES = int(os.environ.get("ISTR_FUZZ_CASES", "300"))


@pytest.mark.parametrize("reader", READERS)
def test_fuzzed_files_load_or_fail_with_one_line(reader, tmp_path):
    counts = run_cases(tmp_path, reader, SEED, CASES)
    assert sum(counts.values()) == CASES
    assert counts["error"] < CASES, "every case refused: the seed files themselves are broken"


@pytest.mark.slow
@pytest.mark.parametrize("reader", READERS)
def test_ten_thousand_fuzzed_files_per_reader(reader, tmp_path):
    counts = run_cases(tmp_path, reader, SEED, 10_000, slow_s=30.0)
    print(json.dumps({"reader": reader, "seed": SEED, "cases": 10_000, **counts}))
