"""cpu-small training-step variants in one process, their steps interleaved (A B C A B C ...), so a
shared machine's changing load falls on every variant alike. Same batch and seed as
train_step.py; prints each variant's median step and its ratio to the first.

    python benchmarks/train_step_interleaved.py [--rounds 4] [--models cpu-small-clgrad cpu-small]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from train_step import build, make_batch, step  # noqa: E402

from istr_core.train.precision import cpu_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--models", nargs="+", default=["cpu-small-clgrad", "cpu-small", "cpu-small-frozen2"])
    args = ap.parse_args()
    device = torch.device("cpu")
    images, targets = make_batch(2, 512, 683, device)
    runs = {}
    for name in args.models:
        torch.manual_seed(0)
        model = build(name, device)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        step(model, optimizer, images, targets, device)  # warm-up
        runs[name] = (model, optimizer, [])
    for _ in range(args.rounds):
        for model, optimizer, times in runs.values():
            times.append(step(model, optimizer, images, targets, device))
    first = statistics.median(runs[args.models[0]][2])
    out = {
        name: {
            "step_s": round(statistics.median(t), 3),
            "ratio_to_first": round(statistics.median(t) / first, 3),
            "steps_s": [round(x, 2) for x in t],
        }
        for name, (_, _, t) in runs.items()
    }
    print(json.dumps({"benchmark": "train_step_interleaved", "cpu": cpu_report(), "models": out}))


if __name__ == "__main__":
    main()
