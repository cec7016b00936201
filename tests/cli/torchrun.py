"""Start `istr segment` under torchrun (2 CPU processes, gloo) from a test, optionally misbehaving.

The wrapper patches `Segmenter.predict_batch` in every rank according to ISTR_TEST_MODE, so a fault
lands on a known rank at a known image on any machine:
  slow  every rank sleeps 0.4 s per batch (so a kill lands mid-run)
  fail  rank 1 raises on its 2nd batch
  hang  rank 1 sleeps for 10 minutes on its 2nd batch
Each rank writes its pid to ISTR_TEST_PIDS/rank{R}.pid when that is set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = """
import os, sys, time
import istr_core.predict.segmenter as inference
rank, mode, calls = int(os.environ["RANK"]), os.environ.get("ISTR_TEST_MODE", ""), [0]
if os.environ.get("ISTR_TEST_PIDS"):
    with open(os.path.join(os.environ["ISTR_TEST_PIDS"], f"rank{rank}.pid"), "w") as f:
        f.write(str(os.getpid()))
predict = inference.Segmenter.predict_batch
def patched(self, *a, **k):
    calls[0] += 1
    if mode == "slow":
        time.sleep(0.4)
    if rank == 1 and calls[0] == 2 and mode == "fail":
        raise RuntimeError("boom on purpose")
    if rank == 1 and calls[0] == 2 and mode == "hang":
        time.sleep(600)
    return predict(self, *a, **k)
inference.Segmenter.predict_batch = patched
from istr_core.cli import app
app(sys.argv[1:])
"""
SIZES = [(96, 128), (64, 64), (128, 160), (48, 96), (96, 96), (80, 120), (64, 128), (112, 112), (40, 60)]


def write_uneven_folder(folder: Path) -> Path:
    """Nine synthetic scenes of different sizes (so the pixel split matters) and one unreadable file."""
    from istr_core.train.synthetic import make_scene

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(SIZES):
        image = make_scene(rng, h, w, max_objects=3)[0]
        cv2.imwrite(str(folder / f"img_{i}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def segment_args(folder, out, weights, *extra) -> list[str]:
    return [
        "segment",
        str(folder),
        "--out",
        str(out),
        "--weights",
        str(weights),
        "--score-threshold",
        "0",
        "--device",
        "cpu",
        *map(str, extra),
    ]


def torchrun(args: list[str], mode: str = "", env: dict | None = None, wait: bool = True, nproc: int = 2):
    """`python -m torch.distributed.run --standalone --nproc_per_node 2 WRAPPER args` (a free port
    each time: --standalone rendezvous). Returns CompletedProcess, or the Popen when not waiting."""
    script = Path(os.environ.get("TMPDIR", "/tmp")) / f"istr_torchrun_wrapper_{os.getpid()}.py"
    script.write_text(WRAPPER)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(nproc),
        str(script),
        *args,
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "ISTR_TEST_MODE": mode,
        **(env or {}),
    }
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def uneven_with_reference(base: Path, checkpoint: Path) -> tuple[Path, Path]:
    """(an uneven image folder under ``base``, the single-process `istr segment` output for it)."""
    from typer.testing import CliRunner

    from istr_core.cli import app

    folder = write_uneven_folder(base / "imgs")
    reference = base / "reference" / "anns.json"  # a sibling of the images, as every out_beside()
    reference.parent.mkdir()
    result = CliRunner().invoke(app, segment_args(folder, reference, checkpoint), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return folder, reference
