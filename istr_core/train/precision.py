"""Whether a training step runs under bf16 autocast.

On CUDA, bf16 is the usual mixed precision. On a CPU it pays only where the instructions do bf16
natively (AVX512-BF16, AMX): there a cpu-small step is about 1.4x faster than fp32, so a fixed time
budget trains for 1.4x more steps (benchmarks/README.md). Elsewhere bf16 arithmetic is emulated and
gives no speed to pay for its lost precision (not measured here), so it stays off. Weights, gradients
and optimizer state stay fp32 either way.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..config import TrainConfig

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """From the kernel's CPU flags; False where there is no /proc/cpuinfo (macOS, Windows)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return any(f in flags for f in NATIVE_BF16_FLAGS)
    return False


def use_bf16_autocast(device_type: str, cfg: TrainConfig) -> bool:
    if device_type == "cuda":
        return cfg.amp
    if device_type == "cpu":
        return cfg.cpu_amp and cpu_has_native_bf16()
    return False
