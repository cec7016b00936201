"""One optimiser step, the same for the batch trainer (:mod:`.loop`) and the online trainer
(:mod:`.online`), so the two cannot drift apart in how they learn: the learning rate of this step,
the forward under bf16 autocast where it pays, a stop on a non-finite loss, backward, gradient
clipping and the AdamW update.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step (and the checkpoint kept)."""


def warmup(step: int, warmup_steps: int, start: float) -> float:
    """The learning-rate factor of ``step``: linear from ``start`` to 1 over the first
    ``warmup_steps`` steps, then 1."""
    if step >= warmup_steps:
        return 1.0
    alpha = step / max(warmup_steps, 1)
    return start * (1 - alpha) + alpha


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Every parameter group at ``factor`` times its base learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    images: list[torch.Tensor],
    targets: list[dict[str, torch.Tensor]],
    *,
    bf16: bool,
    clip: float,
    diverged: Callable[[float], TrainingDiverged],
    finite_everywhere: Callable[[bool], bool] = lambda finite: finite,
) -> dict[str, float]:
    """Forward (bf16 autocast when ``bf16``), backward and one update; returns the losses and their
    sum (``"loss"``). A non-finite sum raises ``diverged(value)`` before any weight changes;
    ``finite_everywhere`` lets a DDP run agree across ranks that every rank's loss was finite."""
    with torch.autocast(images[0].device.type, dtype=torch.bfloat16, enabled=bf16):
        losses = model(images, targets)
    total = sum(losses.values())
    if not finite_everywhere(bool(torch.isfinite(total))):
        raise diverged(total.item())
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    out = {k: float(v.detach()) for k, v in losses.items()}
    out["loss"] = float(total.detach())
    return out
