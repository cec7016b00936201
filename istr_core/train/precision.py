"""Whether a training step runs under bf16 autocast.

On CUDA, bf16 is the usual mixed precision. On a CPU it pays only where the instructions do bf16
natively (AVX512-BF16, AMX): there a cpu-small step is about 1.4x faster than fp32, so a fixed time
budget trains for 1.4x more steps (benchmarks/README.md). Elsewhere bf16 arithmetic is emulated and
gives no speed to pay for its lost precision (not measured here), so it stays off. Weights, gradients
and optimizer state stay fp32 either way.

To measure as a CPU without bf16 would on one that has it (most laptops have AVX2 only), run with
``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2``: oneDNN then has no bf16 instructions, so
autocast stays off as on such a CPU (``ISTR_BF16=0`` turns it off on any machine).
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import torch

from ..config import TrainConfig

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
BF16_ENV = "ISTR_BF16"  # "0" (or off, false, no): never bf16 autocast
# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) that still include bf16 dot products
ONEDNN_BF16_ISAS = (
    "AVX512_CORE_BF16",
    "AVX512_CORE_FP16",
    "AVX10_1_512",
    "AVX512_CORE_AMX",
    "AVX512_CORE_AMX_FP16",
    "AVX10_1_512_AMX",
    "AVX10_1_512_AMX_FP16",
    "DEFAULT",
    "ALL",
)


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


def bf16_allowed() -> bool:
    """False when ``ISTR_BF16`` says no, or when oneDNN is capped below bf16 (``ONEDNN_MAX_CPU_ISA``)."""
    if os.environ.get(BF16_ENV, "1").strip().lower() in ("0", "off", "false", "no"):
        return False
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    return not cap or cap in ONEDNN_BF16_ISAS


def use_bf16_autocast(device_type: str, cfg: TrainConfig) -> bool:
    if not bf16_allowed():
        return False
    if device_type == "cuda":
        return cfg.amp
    if device_type == "cpu":
        return cfg.cpu_amp and cpu_has_native_bf16()
    return False


def cpu_report() -> dict:
    """What a benchmark that times training on this CPU prints beside its numbers: the CPU, the
    vector ISA torch's kernels use (AVX512, AVX2, ...; ``ATEN_CPU_CAPABILITY`` caps it), oneDNN's
    cap, whether the CPU does bf16 natively and whether bf16 autocast may run here."""
    model = ""
    with contextlib.suppress(OSError):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")
    return {
        "cpu": model,
        "isa": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA") or None,
        "native_bf16": cpu_has_native_bf16(),
        "bf16_autocast": bf16_allowed() and cpu_has_native_bf16(),
        "threads": torch.get_num_threads(),
    }
