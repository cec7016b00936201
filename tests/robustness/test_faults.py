"""Faults: `kill -9` in the middle of `istr segment` / `istr finetune`, and a diverging loss.

The killed process runs the real CLI in a subprocess; a small wrapper slows it down (segment: a
sleep per batch; finetune: a checkpoint every step) so the kill lands mid-run on any machine. After
the kill every output file is complete-old or absent, and `--resume` finishes the job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from istr_core.predict.journals import journal_path
from istr_core.train.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
SLOW_SEGMENT = """
import sys, time
import istr_core.predict.segmenter as inference
predict = inference.Segmenter.predict_batch
def slow(self, *a, **k):
    time.sleep(0.3)
    return predict(self, *a, **k)
inference.Segmenter.predict_batch = slow
from istr_core.cli import app
app(sys.argv[1:])
"""
CHECKPOINT_EVERY_STEP = """
import dataclasses, sys, time
import istr_core.train.finetune as finetune
train_on_coco = finetune.train_on_coco
def every_step(*a, train_config, **k):
    return train_on_coco(*a, train_config=dataclasses.replace(train_config, checkpoint_every=1), **k)
finetune.train_on_coco = every_step
from istr_core.cli import app
app(sys.argv[1:])
"""


def _start(wrapper: str, *args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", wrapper, *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"finished before the kill: {proc.stderr.read().decode()[-500:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run never reached the point to kill it at")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_segment_killed_mid_run_keeps_the_old_output_and_resume_completes(
    run, synthetic_dataset, tiny_checkpoint, tmp_path
):
    _, folder = synthetic_dataset
    reference = tmp_path / "reference.json"
    assert (
        run("segment", folder, "--out", reference, "--weights", tiny_checkpoint, "--device", "cpu").exit_code
        == 0
    )
    out = tmp_path / "out.json"
    out.write_text('{"old": "complete"}')
    proc = _start(
        SLOW_SEGMENT, "segment", folder, "--out", out, "--weights", tiny_checkpoint, "--device", "cpu"
    )
    _kill_when(proc, lambda: _lines(journal_path(out)) >= 2)
    assert out.read_text() == '{"old": "complete"}'  # complete-old, never half-new
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.json.")]
    done = _lines(journal_path(out))
    r = run("segment", folder, "--out", out, "--weights", tiny_checkpoint, "--device", "cpu", "--resume")
    assert r.exit_code == 0 and f"{done} from the interrupted run" in r.stderr, r.output
    assert json.loads(out.read_text()) == json.loads(reference.read_text())  # complete-new, same as one run
    assert not journal_path(out).exists()


def test_finetune_killed_after_a_checkpoint_resumes_from_it(
    run, synthetic_dataset, tiny_checkpoint, tmp_path
):
    ann, folder = synthetic_dataset
    out = tmp_path / "tuned.pt"
    args = (
        "finetune",
        ann,
        "--images",
        folder,
        "--weights",
        tiny_checkpoint,
        "--out",
        out,
        "--iterations",
        "4",
        "--batch-size",
        "1",
        "--device",
        "cpu",
    )
    proc = _start(CHECKPOINT_EVERY_STEP, *args)
    _kill_when(proc, lambda: out.exists())
    killed = load_checkpoint(out)  # complete: it loads, and it is the resumable mid-run kind
    assert 1 <= killed.iteration < 4 and "optimizer" in killed.train_state
    r = run(*args, "--resume")
    assert r.exit_code == 0, r.output
    assert f"resuming from {out} at iteration {killed.iteration}" in r.stderr
    final = load_checkpoint(out)
    assert final.iteration == 4 and not final.train_state


def test_diverging_finetune_stops_with_one_line_and_keeps_the_last_good_checkpoint(
    run, synthetic_dataset, tiny_checkpoint, tmp_path
):
    """lr 1e30 blows the weights up after one step; the loss turns NaN at iteration 2.
    (tests/core/test_training.py poisons the data instead, at the Trainer level.)"""
    ann, folder = synthetic_dataset
    out = tmp_path / "tuned.pt"
    out.write_bytes(tiny_checkpoint.read_bytes())  # the last good model
    r = run(
        "finetune",
        ann,
        "--images",
        folder,
        "--weights",
        tiny_checkpoint,
        "--out",
        out,
        "--iterations",
        "3",
        "--batch-size",
        "1",
        "--lr",
        "1e30",
        "--device",
        "cpu",
    )
    from tests.robustness.conftest import assert_clean_failure

    assert_clean_failure(
        r,
        "loss became nan at iteration 2",
        str(out),
        "lower learning rate",
        out=out,
        old=tiny_checkpoint.read_bytes(),
    )
