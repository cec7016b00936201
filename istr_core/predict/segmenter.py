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
from .tiles import drop_duplicates, tile_detections, tile_grid, to_prediction


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
        ``class_pairs`` (for COCO AP) the best (object, class) pairs, an object once per class.
        An image of a size the model learned zoomed (:meth:`zoom_for`) is predicted in tiles
        (:mod:`.tiles`); every image's detections are merged to one per object (per class)."""
        if not images:
            return []
        tiles = [tile_grid(*im.shape[:2], self.zoom_for(*im.shape[:2])) for im in images]
        whole = [i for i, t in enumerate(tiles) if len(t) == 1]
        outputs: dict[int, list[dict]] = {}
        if whole:  # one batch for the images predicted whole
            tensors = [image_to_tensor(images[i]).to(self.device) for i in whole]
            for i, out in zip(whole, self.model(tensors, class_pairs=class_pairs), strict=True):
                outputs[i] = [out]
        for i, grid in enumerate(tiles):
            if len(grid) > 1:  # the tiles of one image, of one size: one batch
                crops = [images[i][t.y0 : t.y1, t.x0 : t.x1] for t in grid]
                outputs[i] = self.model(
                    [image_to_tensor(c).to(self.device) for c in crops], class_pairs=class_pairs
                )
        return [
            self._merge(outputs[i], tiles[i], *images[i].shape[:2], score_threshold, class_pairs)
            for i in range(len(images))
        ]

    def predict(self, image: np.ndarray, score_threshold: float = 0.0) -> list[Prediction]:
        return self.predict_batch([image], score_threshold)[0]

    def _merge(self, outputs, tiles, height, width, score_threshold, class_pairs) -> list[Prediction]:
        detections = []
        for out, tile in zip(outputs, tiles, strict=True):
            keep = out["scores"] >= score_threshold
            detections += tile_detections(
                (out["masks"][keep, 0] > 0.5).cpu().numpy(),
                out["boxes"][keep].cpu().tolist(),
                out["labels"][keep].cpu().tolist(),
                out["scores"][keep].cpu().tolist(),
                tile,
                height,
                width,
            )
        return [to_prediction(d, height, width) for d in drop_duplicates(detections, per_label=class_pairs)]
