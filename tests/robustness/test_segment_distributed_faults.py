"""Faults of `istr segment` with many writers: a second run on the same --out (plain or torchrun) is
refused by OUT.lock; under torchrun a killed, failing or hung rank ends the run non-zero with a message
naming the rank (and its image), never a hang, and `--resume` finishes the job."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from istr_core.predict.distributed import image_pixels, split_by_pixels
from istr_core.predict.journals import all_journals, journal_path, rank_journal_path
from istr_core.predict.output_lock import lock_path
from tests.cli.torchrun import segment_args, torchrun, uneven_with_reference
from tests.robustness.test_faults import _lines, _start

OLD = '{"old": "complete"}'
GATED_SEGMENT = """
import os, sys, time
import istr_core.predict.segmenter as inference
predict = inference.Segmenter.predict_batch
def gated(self, *a, **k):
    while not os.path.exists(os.environ["ISTR_TEST_GATE"]):
        time.sleep(0.05)
    return predict(self, *a, **k)
inference.Segmenter.predict_batch = gated
from istr_core.cli import app
app(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def uneven(tmp_path_factory, tiny_checkpoint):
    """(folder, the single-process output for it)."""
    return uneven_with_reference(tmp_path_factory.mktemp("uneven"), tiny_checkpoint)


def _share_of_rank_1(folder) -> list[str]:
    """The files rank 1 of 2 gets, computed the way the run does."""
    paths = sorted(p for p in folder.iterdir())
    shares = split_by_pixels([image_pixels(p) for p in paths], 2)
    return [paths[i].name for i in shares[1]]


def test_a_second_run_on_the_same_out_is_refused(
    run, monkeypatch, synthetic_dataset, tiny_checkpoint, tmp_path
):
    _, folder = synthetic_dataset
    out, gate = tmp_path / "anns.json", tmp_path / "gate"
    out.write_text(OLD)
    monkeypatch.setenv("ISTR_TEST_GATE", str(gate))  # read by the wrapper in the subprocess
    first = _start(GATED_SEGMENT, *segment_args(folder, out, tiny_checkpoint))
    deadline = time.monotonic() + 120
    while not lock_path(out).exists():  # the first run holds the lock; its model waits for the gate
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read().decode()[-500:]
        time.sleep(0.05)
    second = run(*segment_args(folder, out, tiny_checkpoint, "--resume"))
    assert second.exit_code == 2 and "Traceback" not in second.output
    assert second.stderr.strip().splitlines() == [second.stderr.strip()]  # one line
    assert f"pid {first.pid} on" in second.stderr and "is writing this file" in second.stderr
    assert out.read_text() == OLD  # the refused run touched nothing
    gate.touch()
    assert first.wait(timeout=120) == 0, first.stderr.read().decode()[-500:]
    assert len(json.loads(out.read_text())["images"]) == 6  # the first run finished normally
    assert not lock_path(out).exists()


def test_torchrun_on_a_locked_out_is_refused_once(uneven, tiny_checkpoint, tmp_path):
    folder, _ = uneven
    out = tmp_path / "anns.json"
    out.write_text(OLD)
    lock_path(out).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "since": 0}))
    proc = torchrun(segment_args(folder, out, tiny_checkpoint))
    assert proc.returncode != 0
    refusals = [line for line in proc.stderr.splitlines() if "is writing this file" in line]
    assert len(refusals) == 1 and refusals[0].startswith("error: "), proc.stderr[-3000:]
    assert out.read_text() == OLD and not all_journals(out)
    assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()  # not taken from its owner


def test_a_failing_rank_names_itself_and_its_image(uneven, tiny_checkpoint, tmp_path):
    """An exception on rank 1 (not an unreadable image: those are skipped) fails the whole run;
    what finished is kept in the journals (resume: the killed-rank test below)."""
    folder, _ = uneven
    out = tmp_path / "anns.json"
    out.write_text(OLD)
    proc = torchrun(segment_args(folder, out, tiny_checkpoint), mode="fail")
    assert proc.returncode != 0
    readable = [name for name in _share_of_rank_1(folder) if name != "broken.jpg"]
    assert f"rank 1 failed on {readable[1]}: RuntimeError: boom on purpose" in proc.stderr, proc.stderr[
        -3000:
    ]
    assert out.read_text() == OLD
    assert _lines(rank_journal_path(out, 1)) >= 1


@pytest.mark.slow  # ~15-30 s: a torchrun start, rank 0's share, the 3 s limit
def test_a_hung_rank_is_reported_by_rank_0_not_waited_for(uneven, tiny_checkpoint, tmp_path):
    folder, _ = uneven
    out = tmp_path / "anns.json"
    start = time.monotonic()
    proc = torchrun(
        segment_args(folder, out, tiny_checkpoint), mode="hang", env={"ISTR_SEGMENT_TIMEOUT_S": "3"}
    )
    assert proc.returncode != 0
    assert time.monotonic() - start < 200  # rank 1 sleeps 600 s: it was not waited for
    readable = [name for name in _share_of_rank_1(folder) if name != "broken.jpg"]
    assert "rank 1 stopped: no image finished for 3 s" in proc.stderr, proc.stderr[-3000:]
    assert f"while on {readable[1]}" in proc.stderr  # the image its 2nd batch hangs on
    assert not out.exists() and not lock_path(out).exists()
    assert _lines(rank_journal_path(out, 0)) >= 4  # rank 0's work is kept for --resume


@pytest.mark.slow  # ~25-40 s: two torchrun runs
def test_a_killed_rank_and_torchrun_resume_give_the_uninterrupted_file(uneven, tiny_checkpoint, tmp_path):
    folder, reference = uneven
    out = out_beside(folder, tmp_path)
    out.write_text(OLD)
    pids = tmp_path / "pids"
    pids.mkdir()
    proc = torchrun(
        segment_args(folder, out, tiny_checkpoint), mode="slow", env={"ISTR_TEST_PIDS": str(pids)}, wait=False
    )
    deadline = time.monotonic() + 180
    while _lines(rank_journal_path(out, 1)) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    os.kill(int((pids / "rank1.pid").read_text()), signal.SIGKILL)
    assert proc.wait(timeout=120) != 0  # torchrun stops rank 0 too and fails
    assert out.read_text() == OLD  # complete-old, never half-new
    assert not lock_path(out).exists()  # rank 0 left through Python on torchrun's SIGTERM
    done = sum(_lines(j) for j in all_journals(out))
    assert 2 <= done < 9
    r = torchrun(segment_args(folder, out, tiny_checkpoint, "--resume"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{done} from the interrupted run" in r.stderr
    assert out.read_bytes() == reference.read_bytes()
    assert not all_journals(out) and not lock_path(out).exists()


def test_an_exception_names_the_image_and_keeps_finished_work(
    run, monkeypatch, synthetic_dataset, tiny_checkpoint, tmp_path
):
    """One process: the model raising on the 3rd image is a failure (exit 1) naming that image; the
    two finished records are in the journal and --resume completes the file."""
    from istr_core.predict.segmenter import Segmenter

    _, folder = synthetic_dataset
    reference, out = tmp_path / "reference.json", tmp_path / "anns.json"
    assert run(*segment_args(folder, reference, tiny_checkpoint)).exit_code == 0
    predict, calls = Segmenter.predict_batch, []

    def third_fails(self, *a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("out of memory (simulated)")
        return predict(self, *a, **k)

    monkeypatch.setattr(Segmenter, "predict_batch", third_fails)
    r = run(*segment_args(folder, out, tiny_checkpoint))
    third = sorted(p.name for p in folder.glob("*.png"))[2]
    assert r.exit_code == 1 and f"failed on {third}: RuntimeError: out of memory (simulated)" in r.stderr
    assert _lines(journal_path(out)) == 2 and not out.exists() and not lock_path(out).exists()
    monkeypatch.setattr(Segmenter, "predict_batch", predict)
    r = run(*segment_args(folder, out, tiny_checkpoint, "--resume"))
    assert r.exit_code == 0 and "2 from the interrupted run" in r.stderr
    assert out.read_bytes() == reference.read_bytes()


def out_beside(folder, tmp_path):
    """An output at the reference's place relative to the images, so the two files (which record the
    image folder relative to themselves) can be equal byte for byte."""
    out = folder.parent / tmp_path.name / "anns.json"
    out.parent.mkdir(exist_ok=True)
    return out
