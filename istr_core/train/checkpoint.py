"""Self-describing checkpoints: config, class names, mask codec and weights in one file.

Saved with plain tensors, dicts, lists, strings and numbers only, so ``torch.load(weights_only=True)``
reads them and a model file can never run code. Written atomically.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import ModelConfig, TrainConfig
from ..data.atomic import write_atomic
from ..model.build import build_model_from_config

FORMAT = "istr-studio-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """The file is not a usable ISTR Studio checkpoint; the message says why."""


@dataclass
class Checkpoint:
    model_config: ModelConfig
    class_names: list[str]
    model_state: dict[str, torch.Tensor]
    train_config: TrainConfig | None = None
    iteration: int = 0
    # optimizer/scheduler/rng state for resuming; empty in exported models
    train_state: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)  # category ids, metrics, data description

    def build_model(self, device: str | torch.device = "cpu"):
        """The model with these weights, in eval mode, on ``device``."""
        cfg = self.model_config
        if cfg.backbone.pretrained not in ("none", ""):
            # the weights below replace the backbone anyway: never reach for ImageNet files here
            norm = "frozen_bn" if cfg.backbone.norm == "auto" else cfg.backbone.norm
            cfg = dataclasses.replace(
                cfg, backbone=dataclasses.replace(cfg.backbone, pretrained="none", norm=norm)
            )
        model = build_model_from_config(cfg)
        load_weights(model, self.model_state, "checkpoint weights do not fit its config", CheckpointError)
        return model.to(device).eval()


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint, half: bool = False) -> Path:
    """Write ``ckpt`` atomically; ``half`` stores float weights as fp16 (for shipping a model)."""
    state = {
        k: (v.half() if half and v.is_floating_point() and not k.startswith("codec.") else v).detach().cpu()
        for k, v in ckpt.model_state.items()
    }
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": ckpt.model_config.to_dict(),
        "class_names": list(ckpt.class_names),
        "model_state": state,
        "train_config": ckpt.train_config.to_dict() if ckpt.train_config else None,
        "iteration": int(ckpt.iteration),
        "train_state": ckpt.train_state,
        "metadata": ckpt.metadata,
    }
    return write_atomic(path, lambda f: torch.save(payload, f), binary=True)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint with ``weights_only=True``; anything else raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": noise before our own error
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a loadable ISTR Studio checkpoint ({first[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an ISTR Studio checkpoint (no '{FORMAT}' header)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {payload.get('format_version')} is not "
            f"supported by this version of ISTR Studio (expects {FORMAT_VERSION})"
        )
    try:
        return Checkpoint(
            model_config=ModelConfig.from_dict(payload["model_config"]),
            class_names=list(payload["class_names"]),
            model_state=payload["model_state"],
            train_config=TrainConfig.from_dict(payload["train_config"])
            if payload.get("train_config")
            else None,
            iteration=int(payload.get("iteration", 0)),
            train_state=payload.get("train_state") or {},
            metadata=payload.get("metadata") or {},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged checkpoint ({exc})") from None


def load_weights(
    model: torch.nn.Module,
    state: dict[str, torch.Tensor],
    problem: str,
    error: type[Exception] = ValueError,
    may_miss: tuple[str, ...] = (),
) -> None:
    """Load ``state`` (any float precision: shipped models are fp16) into ``model``. Every key must
    fit, except missing ones starting with ``may_miss``; otherwise ``error``, its message
    ``problem`` and a few of the keys."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(may_miss)]
    if missing or unexpected:
        raise error(f"{problem} (missing {missing[:3]}, unexpected {unexpected[:3]})")
