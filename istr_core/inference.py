"""Segmenter: checkpoint in, predictions out; what the CLI and the GUI use to pre-label images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .resources import DEFAULT_MODEL
from .structures import Prediction
from .train.checkpoint import Checkpoint, CheckpointError, load_checkpoint


def resolve_device(device: str = "auto") -> torch.device:
    """ "auto" -> CUDA when available, else CPU; a clear error when CUDA is asked for but absent."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but no CUDA GPU is available; use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}; expected auto, cpu or cuda")
    return torch.device(device)


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 RGB -> (3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


class Segmenter:
    def __init__(self, checkpoint: Checkpoint, device: str = "auto"):
        self.checkpoint = checkpoint
        self.device = resolve_device(device)
        self.class_names = list(checkpoint.class_names)
        self.model = checkpoint.build_model(self.device).fuse_for_inference()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike | None = None, device: str = "auto") -> Segmenter:
        """Load ``path``, or the embedded default model when ``path`` is None."""
        path = Path(path) if path is not None else DEFAULT_MODEL
        if path == DEFAULT_MODEL and not path.is_file():
            raise CheckpointError(f"the default model {path} is missing; reinstall or pass --weights")
        return cls(load_checkpoint(path), device)

    @torch.inference_mode()
    def predict_batch(self, images: list[np.ndarray], score_threshold: float = 0.0) -> list[list[Prediction]]:
        """RGB uint8 images -> predictions per image, highest score first."""
        if not images:
            return []
        tensors = [image_to_tensor(im).to(self.device) for im in images]
        outputs = self.model(tensors)
        return [self._to_predictions(out, score_threshold) for out in outputs]

    def predict(self, image: np.ndarray, score_threshold: float = 0.0) -> list[Prediction]:
        return self.predict_batch([image], score_threshold)[0]

    def predict_in_box(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """Mask for the object a user boxed: the prediction that best fills ``box`` (xyxy), clipped to
        it, or None when no prediction overlaps. Used by the GUI's box-to-mask tool."""
        best, best_iou = None, 0.0
        for p in self.predict(image, score_threshold=0.05):
            iou = _box_iou(p.box, box) * (0.5 + 0.5 * p.score)
            if iou > best_iou:
                best, best_iou = p, iou
        if best is None:
            return None
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        clipped = np.zeros_like(best.mask)
        clipped[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = best.mask[
            max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)
        ]
        return clipped if clipped.any() else None

    def _to_predictions(self, out: dict, score_threshold: float) -> list[Prediction]:
        keep = out["scores"] >= score_threshold
        masks = (out["masks"][keep, 0] > 0.5).cpu().numpy()
        boxes, labels, scores = (
            out["boxes"][keep].cpu().tolist(),
            out["labels"][keep].cpu().tolist(),
            out["scores"][keep].cpu().tolist(),
        )
        return [
            Prediction(m, tuple(b), int(label), float(s))
            for m, b, label, s in zip(masks, boxes, labels, scores, strict=True)
        ]


def _box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
