"""The pre-label gate in the window (issue 27): after a reviewed image its pre-labels are priced in
the background; pre-labels dearer than clicking are hidden, right ones shown at the cheapest
threshold, the status bar says why in one line, and the user can override it."""

from __future__ import annotations

import numpy as np
import pytest

from istr_app.ui.main_window import HIDE_ALL
from istr_core.data.images import read_image
from istr_core.data.rle import annotation_mask
from istr_core.formats.coco import load_coco
from istr_core.structures import Prediction


def truths(folder):
    """{file name: (masks, class names)} of the window's synthetic images."""
    out = {}
    coco = load_coco(folder / "truth.json", folder)
    names = {c["id"]: c["name"] for c in coco.categories}
    for info in coco.images:
        masks = [annotation_mask(a, info.height, info.width).astype(bool) for a in info.annotations]
        out[info.file_name] = (masks, [names[a["category_id"]] for a in info.annotations])
    return out


def prelabel_with(window, qtbot, monkeypatch, make_predictions):
    """Pre-label every image through the real job, the model's predict replaced by
    ``make_predictions(file name) -> [Prediction]``."""
    c = window.controller
    by_pixels = {rec.key: read_image(rec.path) for rec in c.project.records}

    def predict(image, score_threshold=0.0):
        key = next(k for k, pixels in by_pixels.items() if np.array_equal(pixels, image))
        return [p for p in make_predictions(key) if p.score >= score_threshold]

    monkeypatch.setattr(c.segmenter, "predict", predict)
    window.on_prelabel_all()
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=30000)


def prediction(mask, label, score):
    ys, xs = np.nonzero(mask)
    return Prediction(mask, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), label, score)


def review_and_wait(window, qtbot):
    priced = len(window.gate.gate.priced)
    with qtbot.waitSignal(window.gate.decided, timeout=60000):
        window.controller.accept_all()
    assert len(window.gate.gate.priced) == priced + 1
    return window.gate.gate.decision


def write_discs(folder, centres, shape, seed):
    """Grey images of bright discs (radius 9) on a noisy ground, one per name in ``centres`` (name:
    disc centres), written to ``folder``; returns {name: the discs' masks}."""
    import cv2

    folder.mkdir()
    rng = np.random.default_rng(seed)
    truth = {}
    for name, discs in centres.items():
        grey = rng.normal(60, 6, shape).clip(0, 255).astype(np.uint8)
        masks = []
        for x, y in discs:
            m = np.zeros(grey.shape, np.uint8)
            cv2.circle(m, (x, y), 9, 1, -1)
            masks.append(m.astype(bool))
            grey[m.astype(bool)] = 200
        truth[name] = masks
        cv2.imwrite(str(folder / name), grey)
    return truth


@pytest.fixture
def gated(make_window, image_dir):
    # the gate works with a frozen model too; these tests are about the model's pre-labels
    window = make_window(image_dir, "--no-online", "--no-exemplars")
    assert "chosen after the first reviewed image" in window.gate_label.text()
    assert window.actions_by_name["auto_threshold"].isChecked() and window.slider.value() == 30
    return window


def test_spurious_pre_labels_are_hidden_and_the_user_can_override(gated, image_dir, qtbot, monkeypatch):
    w, c, truth = gated, gated.controller, truths(image_dir)
    shape = c.image.shape[:2]
    corner, edge = np.zeros(shape, bool), np.zeros(shape, bool)
    corner[:6, :6], edge[-5:, 40:60] = True, True
    prelabel_with(w, qtbot, monkeypatch, lambda key: [prediction(corner, 0, 0.99), prediction(edge, 0, 0.6)])
    assert len(c.visible_instances()) == 2
    # image 1: the annotator deletes both masks (nothing there) and makes the objects by hand
    c.select([i.id for i in c.visible_instances()])
    c.delete_selected()
    for mask, name in zip(*truth[c.record.key], strict=True):
        c.add_mask(mask, c.project.class_index(name))
    decision = review_and_wait(w, qtbot)
    assert decision.hidden
    assert w.gate_label.text() == decision.line() and w.gate_label.text().startswith("pre-labels hidden: ")
    assert "by clicking" in w.gate_label.text()
    # the next image's pre-labels are all hidden: the slider sits past 1.00, at "none"
    assert w.slider.value() == HIDE_ALL and w.threshold_label.text() == "none"
    c.step(1)
    assert c.record.instances and not c.visible_instances()

    # override: automatic off gives the pre-labels back at the slider's last hand-set value
    w.actions_by_name["auto_threshold"].trigger()
    assert w.slider.value() == 30 and len(c.visible_instances()) == 2
    assert w.gate_label.text().startswith("automatic confidence off")
    w.slider.setValue(80)  # the slider keeps working by hand
    assert c.threshold == 0.8 and len(c.visible_instances()) == 1
    # automatic on again: the gate's choice is applied again
    w.actions_by_name["auto_threshold"].trigger()
    assert w.slider.value() == HIDE_ALL and not c.visible_instances()


def test_right_pre_labels_are_shown_at_the_cheapest_threshold(gated, image_dir, qtbot, monkeypatch):
    w, c, truth = gated, gated.controller, truths(image_dir)
    names = c.segmenter.class_names

    def right(key):
        masks, classes = truth[key]
        scores = np.linspace(0.9, 0.7, len(masks))
        return [
            prediction(m, names.index(n), float(s)) for m, n, s in zip(masks, classes, scores, strict=True)
        ]

    prelabel_with(w, qtbot, monkeypatch, right)
    lowest = min(i.score for i in c.record.instances)
    decision = review_and_wait(w, qtbot)  # accepted as they are
    # every threshold up to the lowest score accepts every object (1 s each); clicking costs more
    assert not decision.hidden and decision.threshold <= lowest
    assert decision.seconds_per_object == pytest.approx(1.0)
    assert decision.seconds_per_object < decision.clicks_seconds_per_object
    assert w.slider.value() == round(decision.threshold * 100) and c.threshold == decision.threshold
    assert w.gate_label.text() == decision.line()
    assert w.gate_label.text().startswith(f"threshold {decision.threshold:.2f}: 1.0 s/object against")
    c.step(1)
    assert len(c.visible_instances()) == len(truth[c.record.key][0])
    # a second review of the same image is not priced again (what it was shown is gone)
    c.step(-1)
    c.accept_all()
    assert not w.gate.busy and len(w.gate.gate.priced) == 1


def test_the_gate_picks_the_click_tools_path_and_automatic_off_gives_the_model_back(
    gated, image_dir, qtbot, monkeypatch
):
    from istr_core.eval.gate import GateDecision

    w, c, truth = gated, gated.controller, truths(image_dir)
    clicks = w.canvas.clicks  # the click tool's session
    # before any review the click tool is on its weight-free path, and the status bar says so
    assert not c.click_model and clicks._predictor.segmenter is None
    assert w.gate_label.text().endswith("; click tool: no model yet")
    shape = c.image.shape[:2]
    corner = np.zeros(shape, bool)
    corner[:6, :6] = True
    prelabel_with(w, qtbot, monkeypatch, lambda key: [prediction(corner, 0, 0.99)])
    c.select([i.id for i in c.visible_instances()])
    c.delete_selected()
    for mask, name in zip(*truth[c.record.key], strict=True):
        c.add_mask(mask, c.project.class_index(name))
    decision = review_and_wait(w, qtbot)
    # the reviewed image was priced on both paths; the click tool follows the path chosen
    assert decision.other_path_seconds_per_object is not None
    assert c.click_model == (not decision.weight_free)
    assert (clicks._predictor.segmenter is None) == decision.weight_free

    c.set_click_model(True)
    # a decision for the weight-free path switches the click tool off the model, and says so
    free = GateDecision(None, 2.0, 2.0, 0.5, 3.0, 1, 3, "weight-free", 5.0)
    w.gate.gate.decision = free  # as if the gate had decided it
    w.gate.decided.emit(free)
    assert not c.click_model and clicks._predictor.segmenter is None
    assert w.gate_label.text().endswith("; click tool: no model (5.0 s/object with it)")
    # the override: automatic off puts the click tool back on the model
    w.actions_by_name["auto_threshold"].trigger()
    assert c.click_model and clicks._predictor.segmenter is c.segmenter


def test_an_image_of_a_new_size_after_a_run_of_another_is_hidden(gated, qtbot):
    from istr_core.eval.gate import PrelabelGate, PricedImage

    w, c = gated, gated.controller
    w.gate.gate = gate = PrelabelGate(window=1, default=0.3)
    cheap = {None: 40.0, **{t: 10.0 for t in gate.thresholds}}  # pre-labels at a quarter of clicking
    w.gate.decided.emit(gate.add(PricedImage("elsewhere.png", 10, cheap, dict(cheap), size=(50, 50))))
    assert w.slider.value() != HIDE_ALL and not w.gate_label.text().startswith("pre-labels hidden")
    c.step(1)  # a 96x128 image after a run of 50x50 ones: a new scene, none of its size priced
    assert w.slider.value() == HIDE_ALL
    line = "pre-labels hidden: a new image size, none of it reviewed yet; click tool: no model"
    assert w.gate_label.text() == line and not c.click_model
    # priced images of its size decide for it: cheap here, so shown again
    w.gate.decided.emit(gate.add(PricedImage("same.png", 10, cheap, dict(cheap), size=c.image.shape[:2])))
    assert w.slider.value() == round(gate.decision.threshold * 100)


def test_a_long_gate_line_is_cut_to_fit_and_whole_in_its_tooltip(gated, qtbot):
    from istr_core.eval.gate import GateDecision

    w = gated
    w.resize(900, 600)
    line = GateDecision(None, 2.0, 2.0, 0.5, 4.7, 3, 30, "weight-free", 6.0).line()
    w.gate.gate.decision = GateDecision(None, 2.0, 2.0, 0.5, 4.7, 3, 30, "weight-free", 6.0)
    w.gate.decided.emit(w.gate.gate.decision)
    label = w.gate_label
    qtbot.waitUntil(lambda: label.width() > 0)
    assert label.text() == line and label.toolTip() == line and len(line) > 120
    shown = label.shown_text()
    assert shown.endswith("…") and line.startswith(shown[:-1])
    assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()
    # the other status-bar labels keep their room
    assert w.online_label.width() >= w.online_label.sizeHint().width()


def test_the_default_models_pre_labels_are_hidden_until_an_image_prices_them(
    image_dir, tiny_checkpoint, qtbot, monkeypatch
):
    """With the embedded default model nothing is shown before the first price (measured: its
    unpriced pre-labels cost more than clicking on new data); the user's own checkpoint is shown at
    the slider's threshold at once (the ``gated`` fixture); automatic off overrides."""
    import istr_core.data.shipped as shipped
    import istr_core.predict.segmenter as segmenter
    from istr_app.main import build_window, parse_args

    for module in (shipped, segmenter):  # the tiny model stands in for the embedded one
        monkeypatch.setattr(module, "DEFAULT_MODEL", tiny_checkpoint)
    w = build_window(parse_args([str(image_dir), "--recover", "no", "--no-online"]), image_dir)
    w.ask_on_close = False
    qtbot.addWidget(w)
    w.show()
    c = w.controller
    assert c.segmenter is not None and c.weights is None
    assert w.gate_label.text().startswith("pre-labels hidden until a reviewed image prices them")
    assert w.slider.value() == HIDE_ALL and w.threshold_label.text() == "none"
    corner = np.zeros(c.image.shape[:2], bool)
    corner[:6, :6] = True
    prelabel_with(w, qtbot, monkeypatch, lambda key: [prediction(corner, 0, 0.9)])
    assert c.record.instances and not c.visible_instances()
    w.actions_by_name["auto_threshold"].trigger()  # override: automatic off shows them at 0.30
    assert w.slider.value() == 30 and len(c.visible_instances()) == 1
    w.actions_by_name["auto_threshold"].trigger()  # on again: nothing priced yet, still the gate's own
    assert w.gate_label.text().startswith("pre-labels hidden until")
    assert w.slider.value() == HIDE_ALL and not c.visible_instances()
    # istr-app --prelabel asks for them: shown at the slider's threshold before any price
    asked = build_window(
        parse_args([str(image_dir), "--recover", "no", "--no-online", "--prelabel"]), image_dir
    )
    asked.ask_on_close = False
    qtbot.addWidget(asked)
    assert asked.slider.value() == 30 and not asked.gate.gate.decision.hidden


def test_snapped_outlines_are_shown_when_the_gate_says_and_priced_as_predicted(
    make_window, tmp_path, qtbot, monkeypatch
):
    import cv2

    from istr_core.data.rle import rle_to_mask
    from istr_core.eval.gate import GateDecision

    folder = tmp_path / "blobs"
    folder.mkdir()
    yy, xx = np.mgrid[:64, :80]
    truth = (yy - 30) ** 2 + (xx - 40) ** 2 <= 8**2
    wide = (yy - 30) ** 2 + (xx - 40) ** 2 <= 9**2  # the model's outline, a pixel too wide all round
    grey = cv2.GaussianBlur(np.where(truth, 200, 40).astype(np.float32), (0, 0), 1.0).astype(np.uint8)
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), grey)
    w = make_window(folder, "--no-online", "--snap-edges")  # the gate may snap only when asked
    c = w.controller
    assert w.gate.gate.snap_edges and not make_window(folder, "--no-online").gate.gate.snap_edges

    def iou(a, b):
        return np.count_nonzero(a & b) / np.count_nonzero(a | b)

    snap = GateDecision(0.3, 1.0, 2.0, 0.3, 1.0, 1, 1, "model", None, snap_edges=True)
    w.gate.gate.decision = snap  # as if the gate had decided it
    w.gate.decided.emit(snap)
    assert c.snap_edges and w.gate_label.text() == snap.line() and "outlines snapped" in snap.line()
    # the images ahead are pre-labelled again, outlined as the gate now wants
    assert w.jobs.busy and w.jobs.kind == "prelabel"
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=30000)
    prelabel_with(w, qtbot, monkeypatch, lambda key: [prediction(wide, 0, 0.9)])
    (shown,) = c.visible_instances()
    assert iou(wide, truth) < 0.85 and iou(shown.mask, truth) >= 0.9
    # the gate keeps the model's own outline, to price the image both ways once it is reviewed
    (rle,) = w.gate._shown[c.record.key].rles
    assert np.array_equal(rle_to_mask(rle).astype(bool), wide)
    decision = review_and_wait(w, qtbot)
    assert set(w.gate.gate.priced[-1].tables()) >= {("model", False), ("model", True)}
    assert decision.snap_edges  # the accepted snapped outline was the cheaper
    # the override: automatic off shows the model's outlines again
    w.actions_by_name["auto_threshold"].trigger()
    assert not c.snap_edges


def test_objects_found_like_the_reviewed_ones_are_shown_when_the_gate_says(
    make_window, tmp_path, qtbot, monkeypatch
):
    """Exemplar pre-labels (istr-app's default): a reviewed image's objects are priced as found from
    it; cheaper than the model's spurious masks and than clicking, the next image of its size is
    shown the objects found like them, labelled with the project's class, and the model's own
    predictions are still kept for the gate to price."""
    from istr_core.data.rle import rle_to_mask

    folder = tmp_path / "discs"
    centres = {"a.png": [(30, 30), (90, 40), (60, 90)], "b.png": [(40, 80), (100, 30), (110, 100)]}
    truth = write_discs(folder, centres, (128, 140), seed=0)
    w = make_window(folder, "--no-online")
    c = w.controller
    assert (
        w.gate.gate.exemplars and not make_window(folder, "--no-online", "--no-exemplars").gate.gate.exemplars
    )
    corner = np.zeros((128, 140), bool)
    corner[:6, :6] = True
    prelabel_with(w, qtbot, monkeypatch, lambda key: [prediction(corner, 0, 0.9)])
    c.select([i.id for i in c.visible_instances()])
    c.delete_selected()
    for mask in truth["a.png"]:
        c.add_mask(mask, 0)
    decision = review_and_wait(w, qtbot)
    assert decision.exemplars and not decision.hidden
    assert w.gate_label.text().startswith("objects like the reviewed ones, threshold")
    assert c.exemplar_sources is w.gate.sources and list(w.gate.sources) == [(128, 140)]
    # the image ahead was pre-labelled again: the discs found like image a's, not the model's corner
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=30000)
    c.set_current(1)
    assert c.record.key == "b.png"
    shown = c.visible_instances()
    assert len(shown) == 3 and all(i.label == 0 for i in shown)
    for mask in truth["b.png"]:
        assert max(np.count_nonzero(i.mask & mask) / np.count_nonzero(i.mask | mask) for i in shown) >= 0.85
    (rle,) = w.gate._shown["b.png"].rles  # the model's own prediction, kept for pricing
    assert np.array_equal(rle_to_mask(rle).astype(bool), corner)
    # image a reviewed again with one disc fewer: its exemplars are the new masks, not a second copy
    c.set_current(0)
    c.select([c.visible_instances()[0].id])
    c.delete_selected()
    c.accept_all()
    ((path, masks, _),) = w.gate.sources[(128, 140)]
    assert path.name == "a.png" and len(masks) == 2
    # the override: automatic off gives the model's pre-labels back
    w.actions_by_name["auto_threshold"].trigger()
    assert c.exemplar_sources is None


def test_click_a_few_then_the_rest_are_found_when_the_gate_says(make_window, tmp_path, qtbot, monkeypatch):
    """Seeding (istr-app's default): a reviewed image is priced as "its first 3 objects clicked, the
    rest found like them"; cheaper than the model's spurious mask and than clicking, the next image
    is shown nothing, and once the annotator has made 3 objects the others are found on it."""
    folder = tmp_path / "discs"
    centres = {
        "a.png": [(25, 25), (75, 30), (125, 25), (30, 95), (80, 100), (125, 95)],
        "b.png": [(30, 30), (80, 25), (125, 35), (25, 100), (75, 95), (120, 100)],
    }
    truth = write_discs(folder, centres, (128, 150), seed=1)
    w = make_window(folder, "--no-online", "--no-exemplars")
    c = w.controller
    assert w.gate.gate.seeded and not make_window(folder, "--no-online", "--no-seeded").gate.gate.seeded
    corner = np.zeros((128, 150), bool)
    corner[:6, :6] = True
    prelabel_with(w, qtbot, monkeypatch, lambda key: [prediction(corner, 0, 0.9)])
    c.select([i.id for i in c.visible_instances()])
    c.delete_selected()
    for mask in truth["a.png"]:
        c.add_mask(mask, 0)
    assert w.jobs.find_worker is None  # not chosen yet: 6 objects made, no search
    decision = review_and_wait(w, qtbot)
    assert decision.seeded and not decision.hidden and c.seeded
    assert w.gate_label.text().startswith("click 3 objects, then objects like them, threshold")
    assert w.slider.value() == round(decision.threshold * 100)
    qtbot.waitUntil(lambda: not w.jobs.busy, timeout=30000)  # the images ahead, pre-labelled again
    c.set_current(1)
    assert c.record.key == "b.png" and not c.visible_instances()  # nothing shown: the corner is gone
    assert w.gate._shown["b.png"].rles  # but the model's prediction is kept for pricing
    c.apply_predictions("b.png", [prediction(corner, 0, 0.9)])  # late, from a job started before
    assert not c.visible_instances() and not c.record.instances
    for k, mask in enumerate(truth["b.png"][:3]):
        c.add_mask(mask, 0)
        assert (w.jobs.find_worker is not None) == (k == 2)  # the search starts at the 3rd object
    qtbot.waitUntil(lambda: w.jobs.find_worker is None, timeout=60000)
    found = [i for i in c.visible_instances() if i.source == "model"]
    assert len(found) == 3
    for mask in truth["b.png"][3:]:
        assert max(np.count_nonzero(i.mask & mask) / np.count_nonzero(i.mask | mask) for i in found) >= 0.85
    c.add_mask(np.roll(truth["b.png"][0], 5, axis=1), 0)  # a 4th object made: no second search
    assert w.jobs.find_worker is None
    # the override: automatic off shows the model's pre-labels again
    w.actions_by_name["auto_threshold"].trigger()
    assert not c.seeded
