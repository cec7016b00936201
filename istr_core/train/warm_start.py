"""Carry a trained model's weights into a deeper or newer recipe instead of training it again.

On a 2-core CPU the embedded default model took hours to train; when the recipe gains a refinement
stage or a training-only table (contrastive denoising's class embedding), starting over would throw
those hours away. ISTR's stages all map (boxes, features) to better (boxes, features), so a new last
stage starts as a copy of the old last one (it then refines an already refined set, which is what the
old stage learned to do); tables the old model lacks keep the fresh model's initialisation.

The same holds for more proposals (an image with more objects than the model can emit): the learned
proposals are kept, the new ones take fresh boxes spread over the image and copies of learned
proposal features (a learned "what to look for", now looking somewhere else). And for other classes
(a fine-tune file's categories, a class the annotator adds): classes are matched by name, see
:func:`remap_class_rows`.
"""

from __future__ import annotations

import dataclasses
import math
import re

import torch

from ..config import ModelConfig
from ..model.build import build_model_from_config
from .checkpoint import Checkpoint

_STAGE = re.compile(r"^head\.stages\.(\d+)\.(.*)$")
PROPOSAL_TABLES = (
    "proposal_features.weight",
    "proposal_boxes.weight",
    "aux_proposal_features.weight",
    "aux_proposal_boxes.weight",
)


def with_proposals(config: ModelConfig, count: int) -> ModelConfig:
    """``config`` with ``count`` proposals (the auxiliary group, when there is one, at least as many)
    and room to report them all."""
    head = config.head
    aux = max(head.num_aux_proposals, count) if head.num_aux_proposals else 0
    head = dataclasses.replace(head, num_proposals=count, num_aux_proposals=aux)
    detections = max(config.detections_per_image, count)
    return dataclasses.replace(config, head=head, detections_per_image=detections)


def grown_state(old: Checkpoint, new_config) -> dict[str, torch.Tensor]:
    """Weights for a model built from ``new_config``, taken from ``old`` wherever ``old`` has them.

    Stages the old model lacks copy its last stage; proposal tables with more rows keep the old rows
    (see the module docstring); any other parameter missing from ``old`` keeps the new model's own
    initialisation. Other shapes must agree (hidden size, classes, codec): growing a model is not
    resizing it.
    """
    fresh = build_model_from_config(new_config).state_dict()
    source = {k: v.float() if v.is_floating_point() else v for k, v in old.model_state.items()}
    old_stages = old.model_config.head.num_stages
    state = {}
    for key, init in fresh.items():
        value = source.get(key)
        match = _STAGE.match(key)
        if value is None and match and int(match.group(1)) >= old_stages:
            value = source.get(f"head.stages.{old_stages - 1}.{match.group(2)}")
        if value is not None and key in PROPOSAL_TABLES and value.shape != init.shape:
            value = _more_rows(key, value, init)
        if value is not None and value.shape != init.shape:
            raise ValueError(
                f"{key}: shape {tuple(value.shape)} in the old model, {tuple(init.shape)} in the new one"
            )
        state[key] = value.clone() if value is not None else init
    return state


def _more_rows(key: str, old: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
    """``old``'s rows, then fresh boxes or cycled copies of the learned features up to ``fresh``'s count."""
    if old.shape[1:] != fresh.shape[1:] or len(old) > len(fresh):
        return old  # not a growth: the caller's shape check names the parameter
    extra = len(fresh) - len(old)
    boxes = key.endswith("boxes.weight")
    added = fresh[len(old) :] if boxes else old[torch.arange(extra) % len(old)]
    return torch.cat([old, added.to(old.dtype)])


def with_classes(ckpt: Checkpoint, class_names: list[str]) -> Checkpoint:
    """``ckpt`` re-headed for ``class_names``: the config's class count and the classifier rows
    (:func:`remap_class_rows`); ``ckpt`` itself when the names are already its own. The one place
    the fine-tune, the online trainer and the GUI's loop re-head a model."""
    class_names = list(class_names)
    if class_names == list(ckpt.class_names):
        return ckpt
    cfg = dataclasses.replace(ckpt.model_config, num_classes=len(class_names))
    state = remap_class_rows(ckpt.model_state, ckpt.class_names, class_names, cfg.head.prior_prob)
    return dataclasses.replace(ckpt, model_config=cfg, class_names=class_names, model_state=state)


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
