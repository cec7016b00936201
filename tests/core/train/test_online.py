"""The online trainer: rounds continue (optimiser state, step count), snapshots pre-label, and a saved
trainer resumes exactly (issue: annotator seconds per object)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from istr_core import build_model
from istr_core.predict.segmenter import Segmenter
from istr_core.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from istr_core.train.online import OnlineConfig, OnlineTrainer
from istr_core.train.synthetic import make_scene
from tests.conftest import tiny_model_options


def scenes(n, seed=0):
    rng = np.random.default_rng(seed)
    return [make_scene(rng, 96, 128, max_objects=3) for _ in range(n)]


def make_trainer(tiny_checkpoint, **config) -> OnlineTrainer:
    trainer = OnlineTrainer(load_checkpoint(tiny_checkpoint), config=OnlineConfig(**config))
    for i, (image, masks, labels) in enumerate(scenes(2)):
        trainer.add_example(f"im{i}.png", image, masks, labels)
    return trainer


def test_a_round_continues_the_previous_one(tiny_checkpoint):
    trainer = make_trainer(tiny_checkpoint)
    assert trainer.train_for(steps=2) == 2
    state = trainer.optimizer.state_dict()["state"]
    moments = {k: v["exp_avg"].clone() for k, v in state.items()}
    assert all(int(v["step"]) == 2 for v in state.values())
    assert trainer.train_for(steps=3) == 3
    assert (trainer.step, trainer.round) == (5, 2)
    after = trainer.optimizer.state_dict()["state"]
    assert all(int(v["step"]) == 5 for v in after.values())  # AdamW went on counting: not restarted
    assert any(not torch.equal(moments[k], after[k]["exp_avg"]) for k in moments)


def test_no_reviewed_images_means_no_round(tiny_checkpoint):
    trainer = OnlineTrainer(load_checkpoint(tiny_checkpoint))
    assert trainer.train_for(steps=3) == 0 and trainer.round == 0
    with pytest.raises(ValueError, match="steps or cpu_seconds"):
        trainer.train_for()


def test_cpu_seconds_budget_and_stop_request(tiny_checkpoint):
    trainer = make_trainer(tiny_checkpoint)
    assert trainer.train_for(cpu_seconds=0.0) == 0
    assert trainer.train_for(steps=50, should_stop=lambda: trainer.step >= 1) == 1


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_a_snapshot_prelabels_and_a_saved_trainer_resumes_exactly(ema_decay, tiny_checkpoint, tmp_path):
    trainer = make_trainer(tiny_checkpoint, ema_decay=ema_decay)
    trainer.train_for(steps=2)
    path = save_checkpoint(tmp_path / "online.pt", trainer.checkpoint())
    image = scenes(1, seed=5)[0][0]
    assert isinstance(Segmenter(load_checkpoint(path), "cpu").predict(image), list)

    resumed = OnlineTrainer.from_checkpoint(load_checkpoint(path))
    assert (resumed.step, resumed.round) == (2, 1)
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    a, b = trainer.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(a[k]["exp_avg_sq"], b[k]["exp_avg_sq"]) for k in a)
    for e in trainer.examples:  # reviewed images are the user's files, not the checkpoint's
        resumed.add_example(e.key, e.image, e.masks, e.labels)
    trainer.train_for(steps=1)
    resumed.train_for(steps=1)  # same batch picks, augmentation and denoising noise as the original
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    snapshot, resumed_snapshot = trainer.checkpoint().model_state, resumed.checkpoint().model_state
    for key, value in snapshot.items():  # the moving average too, when there is one
        assert torch.equal(value, resumed_snapshot[key]), key


def test_the_moving_average_is_what_prelabels(tiny_checkpoint):
    trainer = make_trainer(tiny_checkpoint, ema_decay=0.9)
    trainer.train_for(steps=3)
    raw, shown = trainer.model.state_dict(), trainer.checkpoint().model_state
    key = "head.stages.0.self_attn.in_proj_weight"
    assert not torch.equal(raw[key], shown[key])  # lags the latest weights
    plain = make_trainer(tiny_checkpoint, ema_decay=0.0)
    plain.train_for(steps=3)
    assert torch.equal(plain.model.state_dict()[key], plain.checkpoint().model_state[key])


def test_same_seed_same_weights(tiny_checkpoint):
    one, two = make_trainer(tiny_checkpoint), make_trainer(tiny_checkpoint)
    one.train_for(steps=2)
    two.train_for(steps=2)
    for key, value in one.model.state_dict().items():
        assert torch.equal(value, two.model.state_dict()[key]), key


def test_new_class_names_and_a_base_without_denoising(tiny_checkpoint):
    base = load_checkpoint(tiny_checkpoint)
    trainer = OnlineTrainer(base, class_names=["ring", "cell"], config=OnlineConfig(denoising_groups=1))
    assert trainer.model_config.num_classes == 2
    assert trainer.model_config.head.num_denoising_groups >= 1
    image, masks, labels = scenes(1)[0]
    trainer.add_example("a.png", image, masks, np.zeros(len(labels), np.int64))
    assert trainer.train_for(steps=1) == 1
    with pytest.raises(ValueError, match="labels"):
        trainer.add_example("b.png", image, masks, np.full(len(labels), 7))


def test_re_reviewing_an_image_replaces_it_and_makes_it_newest(tiny_checkpoint):
    trainer = make_trainer(tiny_checkpoint)
    image, masks, labels = scenes(1, seed=3)[0]
    trainer.add_example("im0.png", image, masks, labels)
    assert trainer.reviewed_keys == ["im1.png", "im0.png"]


def crowded_example(objects: int = 20):
    """A 96x128 image with ``objects`` small square objects in a grid."""
    image = np.full((96, 128, 3), 40, np.uint8)
    masks = np.zeros((objects, 96, 128), np.uint8)
    for k in range(objects):
        y, x = 4 + 18 * (k // 7), 4 + 18 * (k % 7)
        masks[k, y : y + 10, x : x + 10] = 1
        image[y : y + 10, x : x + 10] = 200
    return image, masks, np.zeros(objects, np.int64)


def test_a_crowded_image_grows_the_proposals_and_training_continues(tiny_checkpoint, tmp_path):
    trainer = make_trainer(tiny_checkpoint)
    trainer.train_for(steps=2)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert trainer.model_config.head.num_proposals == 12
    trainer.add_example("crowded.png", *crowded_example(20))
    head = trainer.model_config.head
    assert head.num_proposals == 30 and head.num_aux_proposals >= 30  # 1.5 per object
    assert trainer.model_config.detections_per_image >= 30
    state = trainer.model.state_dict()
    assert torch.equal(state["proposal_boxes.weight"][:12], before["proposal_boxes.weight"])
    assert torch.equal(state["proposal_features.weight"][:12], before["proposal_features.weight"])
    attention = "head.stages.0.self_attn.in_proj_weight"
    assert torch.equal(state[attention], before[attention])
    assert trainer.train_for(steps=2) == 2
    steps = {int(v["step"]) for v in trainer.optimizer.state_dict()["state"].values()}
    assert steps == {4}  # the optimiser went on, it was not rebuilt from zero
    assert len(Segmenter(trainer.checkpoint(), "cpu").predict(crowded_example(20)[0])) <= 30
    path = save_checkpoint(tmp_path / "grown.pt", trainer.checkpoint())
    resumed = OnlineTrainer.from_checkpoint(load_checkpoint(path))
    assert resumed.model_config.head.num_proposals == 30 and resumed.step == 4
    trainer.add_example("few.png", *crowded_example(3))  # fewer objects never shrink the model
    assert trainer.model_config.head.num_proposals == 30


def test_growing_can_be_turned_off(tiny_checkpoint):
    trainer = make_trainer(tiny_checkpoint, grow_proposals=False)
    trainer.add_example("crowded.png", *crowded_example(20))
    assert trainer.model_config.head.num_proposals == 12


def test_a_session_is_reproducible_whatever_else_drew_random_numbers():
    """Same base model, config and images: the same weights, whatever the process's global random
    streams were (the GUI, the benchmark and other trainers draw from them too). The model trains
    at several scales here, a random choice per image."""
    torch.manual_seed(0)
    model = build_model(4, "resnet18", **{**tiny_model_options(), "train_min_sizes": (48, 64, 80, 96)})
    model.codec.fit((torch.rand(64, 28, 28) > 0.5).float())
    base = Checkpoint(model.config, ["ellipse", "polygon", "ring", "blob"], model.state_dict())
    weights = []
    for other in (1, 2):
        random.seed(other)
        torch.manual_seed(other)
        np.random.seed(other)  # noqa: NPY002 -- the global streams other code draws from
        trainer = OnlineTrainer(base)
        for i, (image, masks, labels) in enumerate(scenes(2)):
            trainer.add_example(f"im{i}.png", image, masks, labels)
        trainer.train_for(steps=3)
        weights.append(trainer.model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_small_objects_are_learned_and_prelabelled_zoomed(tiny_checkpoint):
    """Images whose objects are small at the model's input scale train on zoomed crops, and the
    snapshot pre-labels images of that size in tiles of the crops' size (issue 27, point 3)."""
    trainer = make_trainer(tiny_checkpoint)
    image, masks, labels = crowded_example(20)  # 10 px squares; the tiny model sees 96x128 at 1x
    trainer.add_example("crowded.png", image, masks, labels)
    zoom = trainer.examples[-1].zoom
    assert zoom == pytest.approx(3.0)  # 32 / 10, capped at MAX_ZOOM
    trainer.config = OnlineConfig(newest_share=1.0, crop_prob=0.0)
    images, targets = trainer._batch()
    assert all(im.shape[-2:] == (32, 43) for im in images)  # a third of the image per side
    assert all(len(t["boxes"]) < 20 for t in targets)
    assert trainer.train_for(steps=1) == 1
    snapshot = trainer.checkpoint()
    assert snapshot.metadata["input_zoom"] == {"128x96": zoom}
    segmenter = Segmenter(snapshot, "cpu")
    assert segmenter.zoom_for(96, 128) == zoom and segmenter.zoom_for(100, 128) == 1.0
    predictions = segmenter.predict(image)
    assert predictions and all(p.mask.shape == (96, 128) for p in predictions)
    assert all(0 <= p.box[0] <= p.box[2] <= 128 and 0 <= p.box[1] <= p.box[3] <= 96 for p in predictions)
    # a later image of the same size with large objects sets the size back to the model's own scale
    large = np.zeros((1, 96, 128), np.uint8)
    large[0, 20:70, 30:90] = 1
    trainer.add_example("large.png", image, large, np.zeros(1, np.int64))
    assert trainer.examples[-1].zoom == 1.0
    assert trainer.checkpoint().metadata["input_zoom"]["128x96"] == 1.0


def test_zooming_can_be_turned_off(tiny_checkpoint):
    trainer = make_trainer(tiny_checkpoint, zoom_target_side=0)
    trainer.add_example("crowded.png", *crowded_example(20))
    assert trainer.examples[-1].zoom == 1.0
    assert Segmenter(trainer.checkpoint(), "cpu").zoom_for(96, 128) == 1.0


def test_copy_paste_adds_other_images_objects_to_the_batches_and_trains(tiny_checkpoint):
    trainer = make_trainer(tiny_checkpoint, copy_paste_prob=1.0)
    most = max(len(e.labels) for e in trainer.examples)
    counts = [len(t["labels"]) for _ in range(6) for t in trainer._batch()[1]]
    assert max(counts) > most  # pasted objects on top of a target's own
    assert trainer.train_for(steps=2) == 2
