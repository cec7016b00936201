"""The online trainer: a model that keeps learning from each image the annotator marks reviewed.

One object owns the model, the optimiser, the step counter and the pool of reviewed images, so
training *continues* across rounds (AdamW's moments and the step count carry over) instead of
restarting a fine-tune from the base model every time. The GUI's background loop
(``istr_app/online_loop.py``) and the simulated annotation session
(``benchmarks/annotation_session.py``) both drive this class; nothing else implements the loop.

A round is one :meth:`OnlineTrainer.train_for` call; :meth:`OnlineTrainer.checkpoint` snapshots the
weights into a self-describing :class:`Checkpoint` (pre-label with ``Segmenter(checkpoint)``, or save
it, and ``OnlineTrainer.from_checkpoint`` continues exactly where it stopped).

Replay: each batch slot goes to the newest reviewed image with probability ``newest_share``, else to
a reviewed image drawn uniformly, so the model adapts to what the annotator just showed it without
forgetting the earlier images.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..config import ModelConfig, TrainConfig
from ..model.build import build_model_from_config
from ..model.transform import INPUT_ZOOM_KEY, ZOOM_TARGET_SIDE, zoom_for_objects
from .checkpoint import Checkpoint, load_weights
from .distributed import resolve_device
from .loop import build_optimizer
from .precision import use_bf16_autocast
from .recipes import proposals_needed
from .samples import augment, copy_paste, shrink, training_sample
from .step import TrainingDiverged, set_lr, train_step, warmup
from .warm_start import grown_state, with_classes, with_proposals

WARMUP_START = 0.1  # the learning-rate factor of the online trainer's first step


@dataclass(frozen=True)
class OnlineConfig:
    lr: float = 1e-4
    batch_size: int = 2
    warmup_steps: int = 20  # linear warm-up from 0.1 x lr over the trainer's first steps (not every round's)
    weight_decay: float = 1e-4
    clip_grad_norm: float = 1.0
    newest_share: float = 0.5  # chance that a batch slot replays the newest reviewed image
    hflip: bool = True
    vflip: bool = False
    crop_prob: float = 0.5
    bf16: bool = True  # bf16 autocast where the CPU does bf16 natively (and on CUDA)
    denoising_groups: int = 1  # give a base model without contrastive denoising one group
    # more proposals when a reviewed image has more objects than the model can emit well (1.5 per
    # object, as `istr train` sizes them): a set predictor never finds more objects than its proposals
    grow_proposals: bool = True
    # pre-label with an exponential moving average of the weights (0: the latest weights): with a
    # constant lr and batches of 2 the latest weights jitter from step to step, the average does not.
    # The decay ramps up as min(ema_decay, (1 + step) / (10 + step)) so the first rounds are not held back
    ema_decay: float = 0.99
    frozen_backbone_stages: int = 0  # TrainConfig.frozen_backbone_stages: 2 the stem and layer1 fixed, 6 all
    # learn and pre-label images of small objects enlarged until their median side is this many input
    # pixels (model.transform.zoom_for_objects, from the reviewed objects' sizes, per image size): the
    # model trains on zoomed crops of them. 0: never zoom
    zoom_target_side: float = ZOOM_TARGET_SIDE
    # chance that a batch slot gets a random half of another reviewed image's objects pasted over it
    # (samples.copy_paste); 0: never
    copy_paste_prob: float = 0.0
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Example:
    """A reviewed image at training scale: HxWx3 uint8, (M,H,W) uint8 masks, (M,) int64 labels."""

    key: str
    image: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    zoom: float = 1.0  # trained on crops of 1/zoom of the image per side (its objects that much larger)


class OnlineTrainer:
    def __init__(
        self,
        base: Checkpoint,
        class_names: list[str] | None = None,
        config: OnlineConfig = OnlineConfig(),
        device: str = "cpu",
    ):
        """Start from ``base`` (the model the annotator pre-labels with), re-headed for
        ``class_names`` by name (see :func:`istr_core.train.warm_start.with_classes`)."""
        self.config, self.device = config, resolve_device(device)
        base = with_classes(base, class_names or base.class_names)
        self.class_names = list(base.class_names)
        state = base.model_state
        self.model_config = _online_model_config(base.model_config, config)
        self.metadata = {k: v for k, v in base.metadata.items() if k not in ("categories", INPUT_ZOOM_KEY)}
        # the zoom of the latest reviewed image of each size ("WxH"), written into every snapshot
        self.zooms: dict[str, float] = dict(base.metadata.get(INPUT_ZOOM_KEY) or {})
        self.model = build_model_from_config(self.model_config).to(self.device)
        _load_state(self.model, state)
        self.train_config = TrainConfig(
            lr=config.lr,
            weight_decay=config.weight_decay,
            clip_grad_norm=config.clip_grad_norm,
            batch_size=config.batch_size,
            cpu_amp=config.bf16,
            amp=config.bf16,
            hflip=config.hflip,
            vflip=config.vflip,
            crop_prob=config.crop_prob,
            frozen_backbone_stages=config.frozen_backbone_stages,
            seed=config.seed,
        )
        self.optimizer = build_optimizer(self.model, self.train_config)
        self.bf16 = use_bf16_autocast(self.device.type, self.train_config)
        self.step, self.round = 0, 0
        self.examples: list[Example] = []
        # the trainer's own random streams (batch picks and augmentation; the model's denoising noise),
        # so two trainers in one process do not share draws, and a resumed trainer draws what it would have
        self._rng = random.Random(config.seed)
        self._torch_rng = torch.Generator().manual_seed(config.seed).get_state()
        self.max_side = max(self.model_config.input.train_min_sizes + (self.model_config.input.min_size,))
        self._ema: dict[str, torch.Tensor] | None = None

    # -- the reviewed-image pool ------------------------------------------------------------------
    def add_example(self, key: str, image: np.ndarray, masks: np.ndarray, labels: np.ndarray) -> None:
        """Add a reviewed image (or replace the one under ``key``: re-reviewed). It becomes the newest."""
        if len(masks) != len(labels):
            raise ValueError(f"{key}: {len(masks)} masks but {len(labels)} labels")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.class_names)):
            raise ValueError(f"{key}: labels must lie in [0, {len(self.class_names)})")
        masks = np.asarray(masks, np.uint8).reshape(-1, *image.shape[:2])
        zoom = self._zoom(masks)
        self.zooms[f"{image.shape[1]}x{image.shape[0]}"] = zoom
        image, masks = shrink(np.ascontiguousarray(image), masks, round(self.max_side * zoom))
        self.examples = [e for e in self.examples if e.key != key]
        self.examples.append(Example(key, image, masks, np.asarray(labels, np.int64), zoom))
        needed = proposals_needed(len(masks))
        if self.config.grow_proposals and needed > self.model_config.head.num_proposals:
            self._grow_proposals(needed)

    def _zoom(self, masks: np.ndarray) -> float:
        rows, cols = masks.any(2), masks.any(1)
        sides = [
            np.sqrt(np.ptp(np.flatnonzero(r)) + 1) * np.sqrt(np.ptp(np.flatnonzero(c)) + 1)
            for r, c in zip(rows, cols, strict=True)
            if r.any()
        ]
        i = self.model_config.input
        h, w = masks.shape[1:]
        return zoom_for_objects(sides, h, w, i.min_size, i.max_size, self.config.zoom_target_side)

    def _grow_proposals(self, count: int) -> None:
        """Rebuild the model with ``count`` proposals (learned ones kept, see
        :mod:`istr_core.train.warm_start`); the optimiser continues, new rows start with zero moments."""
        config = with_proposals(self.model_config, count)
        raw = _cpu_copy(self.model.state_dict())
        state = grown_state(Checkpoint(self.model_config, self.class_names, raw), config)
        self._ema = None  # restarts from the grown weights at the next step
        optimizer_state = self.optimizer.state_dict()
        self.model_config = config
        self.model = build_model_from_config(config).to(self.device)
        _load_state(self.model, state)
        self.optimizer = build_optimizer(self.model, self.train_config)
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        for index, moments in optimizer_state["state"].items():
            for name in ("exp_avg", "exp_avg_sq"):
                old = moments[name]
                want = params[index].shape
                if old.shape != want:
                    moments[name] = torch.cat([old, old.new_zeros((want[0] - old.shape[0], *want[1:]))])
        self.optimizer.load_state_dict(optimizer_state)

    def with_classes(self, class_names: list[str]) -> OnlineTrainer:
        """A trainer for ``class_names`` (the annotator added a class) from this one's current
        weights, with its reviewed images; the optimiser starts afresh (its rows would not fit). The
        project's class list only grows, so the examples' labels stay valid."""
        trainer = OnlineTrainer(
            self.checkpoint(with_train_state=False), class_names, self.config, str(self.device)
        )
        for e in self.examples:
            trainer.add_example(e.key, e.image, e.masks, e.labels)
        trainer.zooms = dict(self.zooms)
        return trainer

    @property
    def reviewed_keys(self) -> list[str]:
        return [e.key for e in self.examples]

    # -- training ---------------------------------------------------------------------------------
    def train_for(
        self,
        steps: int | None = None,
        cpu_seconds: float | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        """One round: ``steps`` optimiser steps, or as many as fit in ``cpu_seconds`` of this process's
        CPU time per thread (the wall time it would take on an otherwise idle machine). Returns the
        number of steps run (0 without reviewed images)."""
        if steps is None and cpu_seconds is None:
            raise ValueError("train_for needs steps or cpu_seconds")
        if not self.examples:
            return 0
        threads = max(1, torch.get_num_threads())
        start, done = time.process_time(), 0
        self.model.train()
        while steps is None or done < steps:
            if cpu_seconds is not None and (time.process_time() - start) / threads >= cpu_seconds:
                break
            if should_stop is not None and should_stop():
                break
            self._train_step()
            done += 1
        self.round += 1 if done else 0
        return done

    def _batch(self):
        n = len(self.examples)
        picks = [
            n - 1 if self._rng.random() < self.config.newest_share else self._rng.randrange(n)
            for _ in range(self.config.batch_size)
        ]
        samples = []
        for i in picks:
            sample = self._augmented(self.examples[i])
            if self.config.copy_paste_prob > 0 and self._rng.random() < self.config.copy_paste_prob:
                sample = copy_paste(sample, self._augmented(self._rng.choice(self.examples)), self._rng)
            samples.append(training_sample(*sample, i))
        return [s[0].to(self.device) for s in samples], [
            {k: v.to(self.device) for k, v in s[1].items()} for s in samples
        ]

    def _augmented(self, e: Example) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = self.config
        image, masks = augment(e.image, e.masks, c.hflip, c.vflip, c.crop_prob, self._rng)
        if e.zoom > 1:
            image, masks = zoom_crop(image, masks, e.zoom, self._rng)
        return image, masks, e.labels

    def _train_step(self) -> dict[str, float]:
        set_lr(self.optimizer, warmup(self.step, self.config.warmup_steps, WARMUP_START))
        images, targets = self._batch()

        def diverged(value: float) -> TrainingDiverged:
            return TrainingDiverged(f"online training: loss became {value} at step {self.step + 1}")

        with torch.random.fork_rng(devices=[]):  # the model's own draws (denoising noise) from our stream
            torch.set_rng_state(self._torch_rng)
            losses = train_step(
                self.model,
                self.optimizer,
                images,
                targets,
                bf16=self.bf16,
                clip=self.config.clip_grad_norm,
                diverged=diverged,
            )
            self._torch_rng = torch.get_rng_state()
        self.step += 1
        if self.config.ema_decay > 0:
            self._update_ema()
        return losses

    def _update_ema(self) -> None:
        current = self.model.state_dict()
        if self._ema is None:
            self._ema = {k: v.detach().clone() for k, v in current.items() if v.is_floating_point()}
            return
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            for k, v in self._ema.items():
                v.lerp_(current[k].detach(), 1.0 - decay)

    # -- snapshots and resuming -------------------------------------------------------------------
    def checkpoint(self, with_train_state: bool = True) -> Checkpoint:
        """The weights that pre-label (the moving average when ``ema_decay`` is on) as a
        self-describing checkpoint (a copy: training may go on)."""
        raw = _cpu_copy(self.model.state_dict())
        state = raw if self._ema is None else {**raw, **_cpu_copy(self._ema)}
        train_state = {}
        if with_train_state:
            train_state = {
                "raw_weights": raw if self._ema is not None else None,
                "optimizer": _cpu_copy(self.optimizer.state_dict()),
                "online_step": self.step,
                "online_round": self.round,
                "online_config": self.config.to_dict(),
                "reviewed": self.reviewed_keys,
                "python_rng": self._rng.getstate(),
                "torch_rng": self._torch_rng.clone(),
            }
        meta = {
            **self.metadata,
            INPUT_ZOOM_KEY: dict(self.zooms),
            "online": {"round": self.round, "step": self.step, "images": len(self.examples)},
        }
        return Checkpoint(
            self.model_config, self.class_names, state, self.train_config, self.step, train_state, meta
        )

    @classmethod
    def from_checkpoint(
        cls,
        ckpt: Checkpoint,
        device: str = "cpu",
        class_names: list[str] | None = None,
        config: OnlineConfig | None = None,
    ) -> OnlineTrainer:
        """Continue a trainer saved with :meth:`checkpoint` (optimiser state, step, round and random
        streams; its own config wins); a plain model checkpoint, or other ``class_names``, starts a
        new trainer from the weights. Reviewed images are not stored in the checkpoint: add them
        again with :meth:`add_example`."""
        ts = ckpt.train_state or {}
        same_classes = class_names is None or list(class_names) == list(ckpt.class_names)
        if "online_step" in ts and same_classes:
            trainer = cls(ckpt, config=OnlineConfig(**ts["online_config"]), device=device)
            if ts.get("raw_weights") is not None:  # the model state was the average; go on from both
                trainer._ema = {
                    k: v.float().to(trainer.device)
                    for k, v in ckpt.model_state.items()
                    if v.is_floating_point()
                }
                _load_state(trainer.model, ts["raw_weights"])
            trainer.optimizer.load_state_dict(ts["optimizer"])
            trainer.step, trainer.round = int(ts["online_step"]), int(ts["online_round"])
            trainer._rng.setstate(ts["python_rng"])
            trainer._torch_rng = ts["torch_rng"]
            return trainer
        return cls(ckpt, class_names, config or OnlineConfig(), device)


def zoom_crop(image: np.ndarray, masks: np.ndarray, zoom: float, rng: random.Random):
    """A random crop of 1/zoom of the image per side: the model resizes it to its training scale, so
    its objects appear ``zoom`` times as large as in the whole image, as the Segmenter shows them."""
    h, w = image.shape[:2]
    ch, cw = max(1, round(h / zoom)), max(1, round(w / zoom))
    y, x = rng.randint(0, h - ch), rng.randint(0, w - cw)
    return image[y : y + ch, x : x + cw], masks[:, y : y + ch, x : x + cw]


def _online_model_config(base: ModelConfig, config: OnlineConfig) -> ModelConfig:
    head = base.head
    if config.denoising_groups and not head.num_denoising_groups:
        head = dataclasses.replace(head, num_denoising_groups=config.denoising_groups)
    return dataclasses.replace(base, head=head)


def _load_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load ``state``; only the denoising class table may be missing (a base trained without it)."""
    load_weights(model, state, "base weights do not fit the model", may_miss=("denoising_labels.",))


def _cpu_copy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _cpu_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_cpu_copy(v) for v in value)
    return value
