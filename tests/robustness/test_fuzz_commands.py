"""Fuzzed annotation files through the commands users run (issue 32): `istr convert`, `istr finetune`,
`istr eval` and `istr-app --annotations` exit 2 with one `error:` line and write nothing, or load the
file (warnings one line each) and finish; never a traceback, never an internal error, never a
partial output. The mutations are those of tests/robustness/fuzzing.py (seed: ISTR_FUZZ_SEED)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from istr_core import formats
from tests.conftest import make_tiny_checkpoint
from tests.robustness.fuzzing import CLASSES, Seeds, check_dataset, mutated
from tests.robustness.test_fuzz_formats import SEED

CASES = int(os.environ.get("ISTR_FUZZ_COMMAND_CASES", "6"))  # per format and command
SOURCES = ["coco", "cvat", "labelme", "voc", "yolo", "project"]
TRAINABLE = ["coco", "cvat", "labelme", "voc", "yolo"]


def images_of(reader: str, root: Path) -> Path:
    """The images folder of a seed, as a user passes it to --images or as istr-app's DIR."""
    return {
        "cvat": root / "cvat" / "images",
        "labelme": root / "labelme",
        "voc": root / "voc" / "JPEGImages",
        "yolo": root / "yolo" / "images",
    }.get(reader, root / "images")


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> Seeds:
    return Seeds(tmp_path_factory.mktemp("fuzz_seeds"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "fuzz.pt", tuple(CLASSES))


def assert_one_line_or_success(result, out: Path, where: str) -> bool:
    """Exit 2 with one `error:` line and no output, or exit 0 with only warnings and the summary."""
    assert "Traceback" not in result.output and "internal error" not in result.output, where + result.output
    assert result.exit_code in (0, 2), where + result.output
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    if result.exit_code == 2:
        assert len(errors) == 1, where + result.stderr
        assert not out.exists(), f"{where}: {out} written although the command failed"
    else:
        assert not errors, where + result.stderr
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")], "temp file left"
    return result.exit_code == 0


def convert_cases(reader: str, seeds: Seeds, tmp_path: Path, run, cases: int) -> Counter:
    """`istr convert` of ``cases`` fuzzed files of ``reader``, to every format in turn; outcome counts."""
    counts: Counter = Counter()
    for case in range(cases):
        to = list(formats.FORMATS)[case % len(formats.FORMATS)]
        out = tmp_path / f"case{case}" / ("out.json" if to == "coco" else "out")
        out.parent.mkdir()
        with mutated(seeds, reader, SEED, case) as (path, root, steps):
            where = f"{reader} seed {SEED} case {case} -> {to}: {steps}\n"
            source_format = "coco" if reader == "project" else reader
            images = images_of(reader, root)
            result = run(
                "convert", path, "--to", to, "--out", out, "--from", source_format, "--images", images
            )
            if assert_one_line_or_success(result, out, where):
                assert all(line.startswith(("warning:", "wrote")) for line in result.stderr.splitlines())
                check_dataset(formats.load(out, to))  # what was written loads back
                counts["convert wrote" + (" with warnings" if "warning:" in result.stderr else "")] += 1
            else:
                counts["convert error"] += 1
    return counts


def training_cases(reader: str, seeds: Seeds, checkpoint: Path, tmp_path: Path, run, cases: int) -> Counter:
    """`istr finetune` (one iteration) and `istr eval` of ``cases`` fuzzed files; outcome counts."""
    counts: Counter = Counter()
    for case in range(10_000, 10_000 + cases):
        with mutated(seeds, reader, SEED, case) as (path, root, steps):
            where = f"{reader} seed {SEED} case {case}: {steps}\n"
            images = images_of(reader, root)
            out = tmp_path / f"ft{case}.pt"
            common = ["--images", images, "--weights", checkpoint, "--device", "cpu"]
            result = run("finetune", path, *common, "--out", out, "--iterations", "1", "--batch-size", "1")
            counts["finetune " + ("ran" if assert_one_line_or_success(result, out, where) else "error")] += 1
            result = run("eval", path, *common)
            ran = assert_one_line_or_success(result, tmp_path / "no-output-for-eval", where)
            counts["eval " + ("ran" if ran else "error")] += 1
    return counts


def app_cases(reader: str, seeds: Seeds, tmp_path: Path, capsys, cases: int) -> Counter:
    """`istr-app DIR --annotations FILE` (headless self-check) on ``cases`` fuzzed files; outcome counts."""
    from istr_app.main import main

    counts: Counter = Counter()
    for case in range(20_000, 20_000 + cases):
        with mutated(seeds, reader, SEED, case) as (path, root, steps):
            where = f"{reader} seed {SEED} case {case}: {steps}\n"
            annotations = root / "annotations.json" if reader == "autosave" else path
            folder = images_of(reader, root)
            argv = [str(folder), "--no-model", "--annotations", str(annotations)]
            code = main([*argv, "--recover", "yes", "--screenshot", str(tmp_path / "s.png")])
            err = capsys.readouterr().err
            assert code in (0, 2) and "Traceback" not in err, where + err
            if code == 2:
                assert len(err.strip().splitlines()) == 1 and err.startswith("istr-app: error:"), where + err
            counts["istr-app opened" if code == 0 else "istr-app error"] += 1
    return counts


@pytest.mark.parametrize("reader", SOURCES)
def test_convert_of_fuzzed_files(reader, seeds, tmp_path, run):
    assert sum(convert_cases(reader, seeds, tmp_path, run, CASES * 3).values()) == CASES * 3


@pytest.mark.parametrize("reader", TRAINABLE)
def test_finetune_and_eval_of_fuzzed_files(reader, seeds, checkpoint, tmp_path, run):
    assert sum(training_cases(reader, seeds, checkpoint, tmp_path, run, CASES).values()) == 2 * CASES


@pytest.mark.usefixtures("qapp")
@pytest.mark.parametrize("reader", [*SOURCES, "autosave"])
def test_istr_app_opens_fuzzed_files_or_refuses_with_one_line(reader, seeds, tmp_path, capsys):
    assert sum(app_cases(reader, seeds, tmp_path, capsys, CASES).values()) == CASES


@pytest.mark.slow
@pytest.mark.usefixtures("qapp")
@pytest.mark.parametrize("reader", [*SOURCES, "autosave"])
def test_many_fuzzed_files_through_the_commands(reader, seeds, checkpoint, tmp_path, run, capsys):
    """300 conversions, 100 GUI openings and 20 fine-tune + eval runs per format (~6 min in all)."""
    counts = app_cases(reader, seeds, tmp_path, capsys, 100)
    if reader != "autosave":
        counts += convert_cases(reader, seeds, tmp_path, run, 300)
    if reader in TRAINABLE:
        counts += training_cases(reader, seeds, checkpoint, tmp_path, run, 20)
    with capsys.disabled():
        print(json.dumps({"reader": reader, "seed": SEED, **counts}))
