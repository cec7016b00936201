"""Small real training runs: a tiny model, tiny synthetic images, a few steps."""

import numpy as np
import pytest
import torch

from istr_core.config import TrainConfig, cpu_small_config
from istr_core.formats.coco import load_coco
from istr_core.model.build import override
from istr_core.train.checkpoint import load_checkpoint
from istr_core.train.loop import Trainer, lr_factor
from istr_core.train.samples import CocoInstanceDataset
from istr_core.train.step import TrainingDiverged
from tests.conftest import tiny_model_options


def _configs(num_classes: int, iterations: int = 4, **train):
    opts = {k: v for k, v in tiny_model_options().items() if k != "preset"}
    mc = override(cpu_small_config(num_classes), **opts)
    tc = TrainConfig(
        iterations=iterations,
        batch_size=2,
        lr=1e-4,
        warmup_iterations=2,
        checkpoint_every=2,
        num_workers=0,
        log_every=1,
        **train,
    )
    return mc, tc


def _trainer(dataset_paths, out, iterations=4, train_options=None, **kwargs):
    ann, folder = dataset_paths
    coco = load_coco(ann, folder)
    ds = CocoInstanceDataset(coco, folder, max_side=96)
    mc, tc = _configs(len(coco.class_names), iterations, **(train_options or {}))
    return Trainer(ds, mc, tc, out, coco.class_names, torch.device("cpu"), log=lambda s: None, **kwargs)


def test_training_writes_a_self_describing_checkpoint(synthetic_dataset, tmp_path):
    out = tmp_path / "model.pt"
    seen = []
    result = _trainer(synthetic_dataset, out, progress=seen.append).run()
    assert result.iterations == 4 and result.finished
    assert [p.done for p in seen] == [1, 2, 3, 4]
    assert all(np.isfinite(p.losses["loss"]) for p in seen) and seen[-1].eta_s == pytest.approx(0, abs=1e-6)
    ckpt = load_checkpoint(out)
    assert ckpt.iteration == 4 and ckpt.train_state == {}  # a finished model carries no optimizer state
    assert ckpt.class_names == ["ellipse", "polygon", "ring", "blob"]
    assert bool(ckpt.build_model().codec.fitted)


def test_training_changes_the_weights(synthetic_dataset, tmp_path):
    trainer = _trainer(synthetic_dataset, tmp_path / "m.pt", iterations=2)
    before = trainer.model.head.stages[0].class_logits.weight.detach().clone()
    trainer.run()
    assert not torch.equal(before, trainer.model.head.stages[0].class_logits.weight)


def test_interrupted_run_resumes_where_it_stopped(synthetic_dataset, tmp_path):
    out = tmp_path / "run.pt"

    def crash_at_3(p):
        if p.done == 3:
            raise KeyboardInterrupt  # like a kill: nothing is saved after the step-2 checkpoint

    with pytest.raises(KeyboardInterrupt):
        _trainer(synthetic_dataset, out, progress=crash_at_3).run()
    partial = load_checkpoint(out)
    assert partial.iteration == 2 and "optimizer" in partial.train_state
    seen = []
    result = _trainer(synthetic_dataset, out, resume=True, progress=seen.append).run()
    assert [p.done for p in seen] == [3, 4] and result.iterations == 4
    assert load_checkpoint(out).train_state == {}


def test_cancel_keeps_a_resumable_checkpoint(synthetic_dataset, tmp_path):
    out = tmp_path / "c.pt"
    calls = iter([False, True])
    result = _trainer(synthetic_dataset, out, should_stop=lambda: next(calls, True)).run()
    assert result.iterations == 1 and not result.finished
    assert "optimizer" in load_checkpoint(out).train_state


class _PoisonedDataset(CocoInstanceDataset):
    def __getitem__(self, index):
        image, target = super().__getitem__(index)
        return image * float("nan"), target


def test_non_finite_loss_stops_with_a_clear_message_and_keeps_last_checkpoint(synthetic_dataset, tmp_path):
    ann, folder = synthetic_dataset
    coco = load_coco(ann, folder)
    out = tmp_path / "nan.pt"
    good = _trainer(synthetic_dataset, out, iterations=2)
    good.run()
    before = out.read_bytes()
    mc, tc = _configs(4, iterations=4)
    bad = Trainer(
        _PoisonedDataset(coco, folder, max_side=96),
        mc,
        tc,
        tmp_path / "nan2.pt",
        coco.class_names,
        torch.device("cpu"),
        log=lambda s: None,
    )
    with pytest.raises(TrainingDiverged, match="iteration 1"):
        bad.run()
    assert not (tmp_path / "nan2.pt").exists()
    assert out.read_bytes() == before


def test_lr_schedule_warms_up_then_steps_down():
    cfg = TrainConfig(iterations=100, warmup_iterations=10, warmup_factor=0.01, lr_steps=(0.5, 0.9))
    assert lr_factor(0.0, 0, cfg) == pytest.approx(0.01)
    assert lr_factor(0.05, 5, cfg) == pytest.approx(0.01 * 0.5 + 0.5)
    assert lr_factor(0.2, 20, cfg) == 1.0
    assert lr_factor(0.6, 60, cfg) == pytest.approx(0.1)
    assert lr_factor(0.95, 95, cfg) == pytest.approx(0.01)


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    from istr_core.train.precision import cpu_has_native_bf16

    with_bf16, without = tmp_path / "a", tmp_path / "b"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert cpu_has_native_bf16(str(with_bf16)) and not cpu_has_native_bf16(str(without))
    assert not cpu_has_native_bf16(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({}, True),
        ({"ISTR_BF16": "0"}, False),
        ({"ISTR_BF16": "off"}, False),
        ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, False),  # how a CPU without bf16 is emulated
        ({"ONEDNN_MAX_CPU_ISA": "avx512_core"}, False),
        ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, True),
    ],
)
def test_bf16_is_switched_off_by_the_environment(monkeypatch, env, allowed):
    from istr_core.config import TrainConfig
    from istr_core.train import precision

    for key in ("ISTR_BF16", "ONEDNN_MAX_CPU_ISA"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert precision.bf16_allowed() is allowed
    assert precision.use_bf16_autocast("cpu", TrainConfig(cpu_amp=True)) is allowed
    assert precision.cpu_report()["bf16_autocast"] is allowed


@pytest.mark.parametrize("native", [True, False])
def test_cpu_amp_trains_in_bf16_only_where_the_cpu_does_bf16(
    synthetic_dataset, tmp_path, monkeypatch, native
):
    from istr_core.train import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    trainer = _trainer(synthetic_dataset, tmp_path / "m.pt", iterations=1, train_options={"cpu_amp": True})
    seen = []
    trainer.model.head.register_forward_hook(lambda m, i, o: seen.append(o[-1].class_logits.dtype))
    result = trainer.run()
    assert seen == [torch.bfloat16 if native else torch.float32]
    assert np.isfinite(result.final_losses["loss"])
    assert (
        load_checkpoint(tmp_path / "m.pt")
        .model_state["head.stages.0.inst_interact.dynamic_layer.weight"]
        .dtype
        == torch.float32
    )


@pytest.mark.parametrize(
    ("stages", "frozen_prefixes", "learns"),
    [
        (
            2,
            ("backbone.body.conv1.", "backbone.body.bn1.", "backbone.body.layer1."),
            "backbone.body.layer2.0.conv1.weight",
        ),
        (6, ("backbone.",), "head.stages.0.inst_interact.dynamic_layer.weight"),
    ],
)
def test_frozen_backbone_stages_get_no_gradient_and_no_update(stages, frozen_prefixes, learns):
    """TrainConfig.frozen_backbone_stages=2 keeps the stem and layer1 fixed, 6 the whole backbone and
    its FPN: the optimizer does not hold them, a step leaves them unchanged, and the rest still learns."""
    from istr_core import build_model
    from istr_core.config import TrainConfig
    from istr_core.train.loop import build_optimizer
    from tests.conftest import tiny_model_options
    from tests.core.model.test_model import _targets

    torch.manual_seed(0)
    model = build_model(3, "resnet18", **tiny_model_options())
    model.codec.fit((torch.rand(64, 28, 28) > 0.5).float())
    optimizer = build_optimizer(model, TrainConfig(frozen_backbone_stages=stages, lr=1e-3))
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    params = dict(model.named_parameters())
    frozen = [n for n in params if n.startswith(frozen_prefixes)]
    assert frozen and all(id(params[n]) not in held for n in frozen)
    assert learns in params and id(params[learns]) in held
    before = {n: p.detach().clone() for n, p in params.items()}
    images, targets = _targets()
    model.train()
    sum(model(images, targets).values()).backward()
    optimizer.step()
    assert all(params[n].grad is None and torch.equal(params[n], before[n]) for n in frozen)
    assert not torch.equal(params[learns], before[learns])
    with pytest.raises(ValueError, match="frozen_backbone_stages"):
        build_optimizer(model, TrainConfig(frozen_backbone_stages=7))
