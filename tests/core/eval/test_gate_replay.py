"""benchmarks/gate_replay.py: replaying a gating rule on a priced session gives what the gate chose."""

import sys
from pathlib import Path

import numpy as np
import pytest

from istr_core.eval.gate import THRESHOLDS, PrelabelGate, PricedImage

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
gate_replay = pytest.importorskip("gate_replay")


def priced(key: str, objects: int, best: float, at_best: float, clicking: float) -> PricedImage:
    """An image whose pre-labels cost ``at_best`` seconds at threshold ``best``, 3x clicking elsewhere."""
    model = {None: clicking + 5, **{t: at_best if t == best else 3 * clicking for t in THRESHOLDS}}
    free = {None: clicking, **{t: v - 1 for t, v in model.items() if t is not None}}
    return PricedImage(key, objects, model, free)


IMAGES = [
    priced("a", 10, 0.5, 5.0, 20.0),
    priced("b", 10, 0.5, 6.0, 20.0),
    priced("c", 10, 0.7, 50.0, 20.0),  # a new scene: pre-labels there cost more than clicking
    priced("d", 10, 0.7, 4.0, 20.0),
]
LOOKS = [np.array([64, 64, 100, 10.0])] * 2 + [np.array([32, 48, 20, 5.0])] * 2


def test_the_last_window_replays_the_gate():
    gate, expected = PrelabelGate(window=3), 0.0
    for image in IMAGES:
        d = gate.decision
        expected += (image.weight_free if d.weight_free else image.seconds)[d.threshold]
        gate.add(image)
    out = gate_replay.replay(IMAGES, LOOKS, gate_replay.last(3), 0.3)
    assert out["seconds_per_object"] == round(expected / 40, 3)
    assert out["clicks_seconds_per_object"] == 2.0
    assert sum(out["seconds_per_object_per_image"]) * 10 == pytest.approx(expected, abs=0.05)


def test_a_new_scene_is_hidden_and_judged_on_its_own_images():
    out = gate_replay.replay(IMAGES, LOOKS, gate_replay.scene(3), None)
    # a: nothing priced (hidden by the default); b: a's 0.5; c: a new size, hidden; d: c's choice
    assert out["shown"] == ["none", 0.5, "none", "none"]
    # similar: the closest reviewed images, whatever their order
    assert [p.key for p in gate_replay.similar(2)(3, IMAGES, LOOKS)] == ["c", "a"]
    last = gate_replay.replay(IMAGES, LOOKS, gate_replay.last(3), None)
    assert last["shown"] == ["none", 0.5, 0.5, "none"]  # c was shown what a and b chose
    assert out["seconds_per_object"] < last["seconds_per_object"]


def test_hindsight_takes_each_images_cheapest_option_and_bounds_every_rule():
    out = gate_replay.hindsight(IMAGES)
    # a, b, d at their best threshold on the weight-free path (1 s under the model's); c clicked
    assert out["seconds_per_object"] == round((4.0 + 5.0 + 20.0 + 3.0) / 40, 3)
    for rule in (gate_replay.last(3), gate_replay.scene(3), gate_replay.similar(2)):
        assert (
            gate_replay.replay(IMAGES, LOOKS, rule, None)["seconds_per_object"] >= out["seconds_per_object"]
        )


def test_ungated_shows_every_image_at_the_threshold_on_the_models_path():
    out = gate_replay.ungated(IMAGES, 0.5)
    assert out["seconds_per_object"] == round((5.0 + 6.0 + 60.0 + 60.0) / 40, 3)


def test_a_change_of_size_after_a_run_is_hidden_and_mixed_sizes_fall_back_to_the_last_images():
    """``change K`` replays the gate itself (PrelabelGate, as istr-app and the session drive it)."""
    change = gate_replay.replay_gate(IMAGES, LOOKS, 2, None)
    last = gate_replay.replay(IMAGES, LOOKS, gate_replay.last(2), None)
    # c follows a run of two 64x64 images and is 32x48: hidden; d's last two differ in size: last 2
    assert change["shown"] == ["none", 0.5, "none", last["shown"][3]]
    mixed = [LOOKS[0], LOOKS[2]] * 2  # sizes alternate: never a run, so always the last images
    assert gate_replay.replay_gate(IMAGES, mixed, 2, None) == gate_replay.replay(
        IMAGES, mixed, gate_replay.last(2), None
    )


def test_exemplar_prices_are_replayed_and_never_shown_on_a_size_not_reviewed_before():
    """Exemplar pre-labels where they are cheapest; an image no image of its size precedes has none
    to show (its exemplar prices are its own objects', for the gate to learn from): hindsight and
    every rule price it as nothing shown."""
    import dataclasses

    def with_exemplars(image, seconds):
        tables = {"weight-free": {None: image.weight_free[None], **dict.fromkeys(THRESHOLDS, seconds)}}
        return dataclasses.replace(image, exemplars=tables)

    images = [with_exemplars(image, 1.0) for image in IMAGES]
    out = gate_replay.replay(images, LOOKS, gate_replay.last(1), None)
    # a: nothing priced; b: a's exemplars (1 s); c: a new size, none of it reviewed before: clicked;
    # d: c's exemplars
    assert out["shown"] == ["none", "exemplars 0.5", "none", "exemplars 0.5"]
    assert out["seconds_per_object"] == round((20.0 + 1.0 + 20.0 + 1.0) / 40, 3)
    sized = gate_replay.with_sizes(images, LOOKS)
    assert gate_replay.hindsight(sized)["seconds_per_object"] == round((4.0 + 1.0 + 20.0 + 1.0) / 40, 3)
    change = gate_replay.replay_gate(images, LOOKS, 1, None)
    assert change["shown"] == out["shown"]
