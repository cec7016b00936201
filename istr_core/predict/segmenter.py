"""Segmenter: checkpoint in, predictions out; what the CLI and the GUI use to pre-label images."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from ..data.shipped import DEFAULT_MODEL
from ..structures import Prediction
from ..train.checkpoint import Checkpoint, CheckpointError, load_checkpoint


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
    def predict_batch(
        self, images: list[np.ndarray], score_threshold: float = 0.0, class_pairs: bool = False
    ) -> list[list[Prediction]]:
        """RGB uint8 images -> predictions per image, highest score first: one per object, or with
        ``class_pairs`` (for COCO AP) the best (object, class) pairs, an object once per class."""
        if not images:
            return []
        tensors = [image_to_tensor(im).to(self.device) for im in images]
        outputs = self.model(tensors, class_pairs=class_pairs)
        return [self._to_predictions(out, score_threshold) for out in outputs]

    def predict(self, image: np.ndarray, score_threshold: float = 0.0) -> list[Prediction]:
        return self.predict_batch([image], score_threshold)[0]

    def predict_in_box(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """Mask for the object a user boxed (xyxy), clipped to the box, or None when nothing is found.
        The box is a prompt for :class:`~istr_core.interactive.ClickPredictor`: the image's features
        are computed once and reused for every further box on the same image."""
        predictor = self._click_predictor_for(image)
        mask = predictor.predict([], box=box)
        x0, x1 = sorted((int(round(box[0])), int(round(box[2]))))
        y0, y1 = sorted((int(round(box[1])), int(round(box[3]))))
        clipped = np.zeros(mask.shape, bool)
        clipped[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = mask[
            max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)
        ]
        return clipped if clipped.any() else None

    def _click_predictor_for(self, image: np.ndarray):
        """A ClickPredictor set to ``image``, reused while the same pixels come back."""
        from ..interactive import ClickPredictor  # interactive imports this module

        key = (image.shape, hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).digest())
        if getattr(self, "_click_key", None) != key:
            self._click_predictor = ClickPredictor(self)
            self._click_predictor.set_image(image)
            self._click_key = key
        return self._click_predictor

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
