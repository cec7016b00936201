"""DDP through torchrun, on CPU with the gloo backend and 2 processes."""

import socket
import subprocess
import sys

from istr_core.train.checkpoint import load_checkpoint


def _free_port() -> int:
    """A fixed port fails when another run (or a killed one) still holds it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_gloo(synthetic_dataset, tmp_path):
    ann, folder = synthetic_dataset
    out = tmp_path / "ddp.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(_free_port()),
        "-m",
        "istr_core.cli",
        "train",
        str(ann),
        "--images",
        str(folder),
        "--out",
        str(out),
        "--iterations",
        "2",
        "--batch-size",
        "1",
        "--workers",
        "0",
        "--device",
        "cpu",
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "distributed training: 2 processes, gloo backend" in proc.stderr
    ckpt = load_checkpoint(out)
    assert ckpt.iteration == 2
    assert not any(k.startswith("module.") for k in ckpt.model_state)  # saved unwrapped
