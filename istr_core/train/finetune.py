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
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import TrainConfig
from ..data.shipped import DEFAULT_MODEL
from ..formats import load_annotations
from ..predict.segmenter import Segmenter
from .checkpoint import load_checkpoint
from .loop import TrainProgress, TrainResult
from .recipes import proposals_for, train_on_coco
from .warm_start import grown_state, with_proposals

CLASS_ROW_SUFFIX = "class_logits.weight"


@dataclass
class FinetuneResult:
    checkpoint: Path
    iterations: int
    elapsed_s: float
    class_names: list[str]
    new_classes: list[str]
    metrics: dict | None = None


def remap_class_rows(
    state: dict[str, torch.Tensor], old_names: list[str], new_names: list[str], prior_prob: float = 0.01
) -> dict[str, torch.Tensor]:
    """Classifier weights/biases (and the denoising queries' class embedding) for ``new_names``, copying
    rows of classes found in ``old_names``."""
    state = dict(state)
    prior = -math.log((1 - prior_prob) / prior_prob)
    generic = 0 if len(old_names) == 1 else None
    sources = [old_names.index(name) if name in old_names else generic for name in new_names]
    for key in [k for k in state if k.endswith("class_logits.weight")]:
        weight, bias = state[key].float(), state[key[: -len("weight")] + "bias"].float()
        new_w = torch.empty(len(new_names), weight.shape[1])
        torch.nn.init.xavier_uniform_(new_w)
        new_b = torch.full((len(new_names),), prior)
        for i, j in enumerate(sources):
            if j is not None:
                new_w[i], new_b[i] = weight[j], bias[j]
        state[key], state[key[: -len("weight")] + "bias"] = new_w, new_b
    if "denoising_labels.weight" in state:
        table = state["denoising_labels.weight"].float()
        new_rows = torch.randn(len(new_names), table.shape[1])  # nn.Embedding's own initialisation
        for i, j in enumerate(sources):
            if j is not None:
                new_rows[i] = table[j]
        state["denoising_labels.weight"] = new_rows
    return state


def finetune(
    annotations: str | os.PathLike,
    images_dir: str | os.PathLike,
    out: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    iterations: int = 300,
    device: str = "auto",
    batch_size: int | None = None,
    lr: float | None = None,
    val: str | os.PathLike | None = None,
    val_images: str | os.PathLike | None = None,
    resume: bool = False,
    minutes: float | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    log: Callable[[str], None] = print,
) -> FinetuneResult:
    """Fine-tune ``weights`` (default: the embedded model) on ``annotations``; write ``out``.

    ``progress(iteration, total, losses)`` is called after every step; ``should_stop()`` before
    every step (a True stops early and still writes a usable, resumable checkpoint). ``minutes``
    trains for that long instead of ``iterations`` steps (the lr schedule then follows time), which
    is how a fine-tune is compared with training from scratch on equal terms.
    """
    base = load_checkpoint(weights if weights is not None else DEFAULT_MODEL)
    coco = load_annotations(annotations, images_dir)
    if val is not None:
        load_annotations(val, val_images or images_dir)  # fail now, not after training
    names = coco.class_names
    new = [n for n in names if n not in base.class_names]
    cfg = dataclasses.replace(base.model_config, num_classes=len(names))
    state = remap_class_rows(base.model_state, base.class_names, names, cfg.head.prior_prob)
    proposals = max(cfg.head.num_proposals, proposals_for(coco, 0))
    if proposals != cfg.head.num_proposals:
        log(
            f"note: an image has {max(len(i.annotations) for i in coco.images)} instances; the model's "
            f"{cfg.head.num_proposals} proposals grow to {proposals} (the learned ones are kept)"
        )
        grown = with_proposals(cfg, proposals)
        state = grown_state(dataclasses.replace(base, model_config=cfg, model_state=state), grown)
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
    )

    def report(p: TrainProgress):
        if progress:
            progress(p.iteration, p.total, p.losses)

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
        progress=report,
        should_stop=should_stop,
        log=log,
    )
    metrics = None
    if val is not None:
        from ..eval.coco_eval import evaluate

        metrics = evaluate(
            Segmenter.from_checkpoint(out, device),
            load_annotations(val, val_images or images_dir),
            val_images or images_dir,
        )
    return FinetuneResult(Path(out), result.iterations, result.elapsed_s, names, new, metrics)
