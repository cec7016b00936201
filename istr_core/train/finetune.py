"""Fine-tune a trained model on corrected annotations: used by ``istr finetune`` and the GUI.

Class mapping is by category *name*: the new model's classes are the file's categories, in file
order. Classes the base model already knows keep their classifier rows; new ones start from the
base model's generic row when it has a single class (e.g. the default model's "object"), otherwise
from the focal-loss prior. Everything else (backbone, head, box and mask predictors) starts from
the base weights.

The mask codec is kept, not refitted: the mask-embedding predictor was trained to emit codes of
that basis, and a refit would change the meaning of every output dimension, throwing the mask head's
training away. A PCA basis fitted on thousands of varied shapes also reconstructs new shapes well
(see the codec tests).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import TrainConfig
from ..data.shipped import DEFAULT_MODEL
from ..formats import load_annotations
from ..structures import ProgressCallback
from .checkpoint import load_checkpoint
from .loop import TrainResult
from .recipes import proposals_for, train_on_coco
from .warm_start import grown_state, with_classes, with_proposals


@dataclass
class FinetuneResult:
    checkpoint: Path
    iterations: int
    elapsed_s: float
    class_names: list[str]
    new_classes: list[str]


def finetune(
    annotations: str | os.PathLike,
    images_dir: str | os.PathLike,
    out: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    iterations: int = 300,
    device: str = "auto",
    batch_size: int | None = None,
    lr: float | None = None,
    resume: bool = False,
    minutes: float | None = None,
    frozen_stages: int | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    log: Callable[[str], None] = print,
) -> FinetuneResult:
    """Fine-tune ``weights`` (default: the embedded model) on ``annotations``; write ``out``.

    ``progress`` is called after every step; ``should_stop()`` before
    every step (a True stops early and still writes a usable, resumable checkpoint). ``minutes``
    trains for that long instead of ``iterations`` steps (the lr schedule then follows time), which
    is how a fine-tune is compared with training from scratch on equal terms. ``frozen_stages``:
    ``TrainConfig.frozen_backbone_stages`` of the fine-tune (None: the base model's, 0 for the
    embedded one).
    """
    base = load_checkpoint(weights if weights is not None else DEFAULT_MODEL)
    coco = load_annotations(annotations, images_dir)
    names = coco.class_names
    new = [n for n in names if n not in base.class_names]
    headed = with_classes(base, names)
    cfg, state = headed.model_config, headed.model_state
    proposals = max(cfg.head.num_proposals, proposals_for(coco, 0))
    if proposals != cfg.head.num_proposals:
        log(
            f"note: an image has {max(len(i.annotations) for i in coco.images)} instances; the model's "
            f"{cfg.head.num_proposals} proposals grow to {proposals} (the learned ones are kept)"
        )
        grown = with_proposals(cfg, proposals)
        state = grown_state(headed, grown)
        cfg = grown
    tc = base.train_config or TrainConfig()
    if minutes:
        iterations = 10**9  # the clock ends it
    tc = dataclasses.replace(
        tc,
        iterations=iterations,
        batch_size=batch_size or min(tc.batch_size, 4),
        lr=lr or min(tc.lr, 1e-4),
        warmup_iterations=min(50, iterations // 5),
        checkpoint_every=100 if minutes else max(50, iterations // 5),
        time_budget_s=minutes * 60 if minutes else 0.0,
        lr_steps=(0.8,),
        frozen_backbone_stages=tc.frozen_backbone_stages if frozen_stages is None else frozen_stages,
    )

    meta = {"finetuned_from": str(weights or DEFAULT_MODEL), "base_classes": base.class_names}
    result: TrainResult = train_on_coco(
        annotations,
        images_dir,
        out,
        model_config=cfg,
        train_config=tc,
        device=device,
        resume=resume,
        init_state=state,
        metadata=meta,
        progress=progress,
        should_stop=should_stop,
        log=log,
    )
    return FinetuneResult(Path(out), result.iterations, result.elapsed_s, names, new)
