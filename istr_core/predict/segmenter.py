"""Segmenter: checkpoint in, predictions out; what the CLI and the GUI use to pre-label images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..data.images import image_to_tensor
from ..data.shipped import DEFAULT_MODEL
from ..model.transform import INPUT_ZOOM_KEY
from ..structures import Prediction
from ..train.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from ..train.distributed import resolve_device


class Segmenter:
    def __init__(self, checkpoint: Checkpoint, device: str = "auto"):
        self.checkpoint = checkpoint
        self.device = resolve_device(device)
        self.class_names = list(checkpoint.class_names)
        self.model = checkpoint.build_model(self.device).fuse_for_inference()
        zooms = checkpoint.metadata.get(INPUT_ZOOM_KEY) or {}
        self.zoom_by_size = {str(k): float(v) for k, v in zooms.items()}

    def zoom_for(self, height: int, width: int) -> float:
        """How much larger than its input scale the model sees an image of this size."""
        return self.zoom_by_size.get(f"{width}x{height}", 1.0)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike | None = None, device: str = "auto") -> Segmenter:
        """Load ``path``, or the embedded default model when ``path`` is None."""
        path = Path(path) if path is not None else DEFAULT_MODEL
        if path == DEFAULT_MODEL and not path.is_file():
            raise CheckpointError(f"the default model {path} is missing; reinstall or pass --weights")
        return cls(load_checkpoint(path), device)

    @torch.inference_mode()
    def predict_batch(
        self, images: list[np.ndarray], score_threshold: float = 0.0, class_pairs: bool = False
    ) -> list[list[Prediction]]:
        """RGB uint8 images -> predictions per image, highest score first: one per object, or with
        ``class_pairs`` (for COCO AP) the best (object, class) pairs, an object once per class."""
        if not images:
            return []
        tensors = [image_to_tensor(im).to(self.device) for im in images]
        zooms = [self.zoom_for(*im.shape[:2]) for im in images]
        outputs = self.model(tensors, class_pairs=class_pairs, zooms=zooms if max(zooms) > 1 else None)
        return [self._to_predictions(out, score_threshold) for out in outputs]

    def predict(self, image: np.ndarray, score_threshold: float = 0.0) -> list[Prediction]:
        return self.predict_batch([image], score_threshold)[0]

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
