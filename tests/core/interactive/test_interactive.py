"""Click segmentation: the click protocol, the weight-free path, the model path, and the edges."""

import cv2
import numpy as np
import pytest

from istr_core.interactive import (
    Click,
    Clicker,
    ClickPredictor,
    WeightFreeSegmenter,
    clicks_to_reach,
    enforce_clicks,
    mask_iou,
    scissors_path,
    simulate,
)
from istr_core.predict.segmenter import Segmenter


def disc(shape=(120, 160), centre=(70, 60), radius=30) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    cv2.circle(out, centre, radius, 1, -1)
    return out.astype(bool)


def textured_scene(truth: np.ndarray, seed: int = 0) -> np.ndarray:
    """A disc of one colour and texture on a background of another: blotchy noise in both."""
    rng = np.random.default_rng(seed)
    h, w = truth.shape
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 2) * 40
    base = np.where(truth[..., None], [200, 150, 60], [60, 90, 140]).astype(np.float32)
    return np.clip(base + noise + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


def test_clicker_first_click_is_the_deepest_point_and_an_oracle_needs_one():
    gt = disc()
    first = Clicker(gt).next_click(None)
    assert first.is_positive and abs(first.x - 70) <= 1 and abs(first.y - 60) <= 1
    ious = simulate(lambda clicks: gt, gt)
    assert ious == [1.0] and clicks_to_reach(ious, 0.9) == 1


def test_clicker_clicks_the_larger_error_with_the_right_sign():
    gt = disc()
    extra = gt.copy()
    extra[0:40, 110:160] = True  # a big wrongly included block
    click = Clicker(gt).next_click(extra)
    assert not click.is_positive and 110 <= click.x < 160 and click.y < 40
    missed = gt.copy()
    missed[:, 70:] = False  # half the disc missed
    click = Clicker(gt).next_click(missed)
    assert click.is_positive and gt[int(click.y), int(click.x)] and click.x >= 70
    assert Clicker(gt).next_click(gt) is None
    assert clicks_to_reach([0.5, 0.8], 0.9, 20) == 20


def test_weight_free_reaches_a_textured_disc_in_three_clicks():
    gt = disc()
    segmenter = WeightFreeSegmenter(textured_scene(gt))
    ious = simulate(segmenter.predict, gt, max_clicks=3)
    assert max(ious) >= 0.9, ious


def test_positive_clicks_grow_and_negative_clicks_shrink_the_mask():
    left, right = disc(centre=(45, 60), radius=25), disc(centre=(115, 60), radius=25)
    image = np.where((left | right)[..., None], 200, 40).astype(np.uint8).repeat(3, 2)
    image[:, 80] = 200  # a thin bright bridge: one fill reaches both discs through it
    seg = WeightFreeSegmenter(image)
    one = seg.predict([Click(True, 45, 60)])
    assert one[60, 45]
    both = seg.predict([Click(True, 45, 60), Click(True, 115, 60)])
    assert both[60, 45] and both[60, 115] and both.sum() >= one.sum()
    cut = seg.predict([Click(True, 45, 60), Click(False, 115, 60)])
    assert cut[60, 45] and not cut[60, 115] and cut.sum() < both.sum()
    assert mask_iou(cut, left) > 0.8


def test_enforce_clicks_keeps_the_clicked_part():
    mask = disc(centre=(40, 60), radius=15) | disc(centre=(120, 60), radius=15)
    out = enforce_clicks(mask, [Click(True, 40, 60), Click(False, 40, 60 + 10)])
    assert out[60, 40] and not out[60, 120] and not out[70, 40]


def test_refining_a_mask_adds_and_removes():
    gt = disc()
    image = np.where(gt[..., None], 210, 50).astype(np.uint8).repeat(3, 2)
    seg = WeightFreeSegmenter(image)
    half = gt.copy()
    half[:, 70:] = False
    grown = seg.predict([Click(True, 85, 60)], prev_mask=half)
    assert mask_iou(grown, gt) > 0.9
    spill = gt.copy()
    spill[100:120, 0:40] = True  # a wrongly included background block
    trimmed = seg.predict([Click(False, 20, 110)], prev_mask=spill)
    assert not trimmed[110, 20] and mask_iou(trimmed, gt) > mask_iou(spill, gt)


@pytest.mark.parametrize("with_model", [False, True])
def test_edges_outside_clicks_tiny_image_many_clicks(with_model, tiny_checkpoint):
    segmenter = Segmenter.from_checkpoint(tiny_checkpoint, device="cpu") if with_model else None
    predictor = ClickPredictor(segmenter)
    gt = disc()
    predictor.set_image(textured_scene(gt))
    outside = predictor.predict([Click(True, -5, 10), Click(False, 1000, 1000)])
    assert outside.shape == gt.shape and not outside.any()
    assert predictor.predict([]).shape == gt.shape
    rng = np.random.default_rng(0)
    many = [Click(bool(k % 3), *rng.uniform([40, 30], [100, 90])) for k in range(200)]
    mask = predictor.predict(many)
    last = many[-1]
    assert mask.shape == gt.shape and mask[int(last.y), int(last.x)] == last.is_positive
    predictor.set_image(np.full((1, 1, 3), 128, np.uint8))
    for clicks in ([Click(True, 0, 0)], [Click(False, 0.5, 0.5)], [Click(True, 3, 3)]):
        assert predictor.predict(clicks).shape == (1, 1)
    assert predictor.predict([], box=(0, 0, 1, 1)).shape == (1, 1)


def test_model_path_runs_and_respects_the_clicks(tiny_checkpoint):
    predictor = ClickPredictor(Segmenter.from_checkpoint(tiny_checkpoint, device="cpu"))
    gt = disc()
    predictor.set_image(textured_scene(gt))
    clicks = [Click(True, 70, 60), Click(False, 150, 10), Click(True, 80, 75), Click(False, 5, 115)]
    mask = predictor.predict(clicks)
    assert all(mask[int(c.y), int(c.x)] == c.is_positive for c in clicks)
    boxed = predictor.predict([], box=(35, 25, 105, 95))
    assert boxed.shape == gt.shape


def test_a_box_on_the_same_image_reuses_the_features(tiny_checkpoint):
    segmenter = Segmenter.from_checkpoint(tiny_checkpoint, device="cpu")
    gt = disc()
    image = textured_scene(gt)
    calls = []
    segmenter.model.backbone.register_forward_hook(lambda *a: calls.append(1))
    predictor = ClickPredictor(segmenter)
    for box in ((35, 25, 105, 95), (40, 30, 100, 90)):
        predictor.set_image(image.copy())  # the box tool sets the image before every box
        mask = predictor.predict_box(box)
        assert mask is None or (mask.shape == gt.shape and not mask[:, :35].any())
    assert len(calls) == 1
    predictor.set_image(image[::-1].copy())
    predictor.predict_box((35, 25, 105, 95))
    assert len(calls) == 2


def test_a_box_without_a_model_is_grabcut_inside_it():
    image = np.full((60, 60, 3), 30, np.uint8)
    image[20:40, 20:40] = 220
    predictor = ClickPredictor(None)
    predictor.set_image(image)
    m = predictor.predict_box((12, 12, 48, 48))
    assert m is not None and m[30, 30] and not m[14, 14] and not m[:, :12].any()
    assert predictor.predict_box((5, 5, 6, 6)) is None


def test_scissors_path_follows_an_edge():
    image = np.full((60, 80, 3), 40, np.uint8)
    image[20:, :] = 220  # a horizontal edge at y = 20
    path = scissors_path(image, (5, 20), (75, 20))
    assert tuple(path[0]) == (5, 20) or tuple(path[-1]) == (5, 20)
    assert np.abs(path[:, 1] - 20).max() <= 2 and len(path) >= 60


def test_the_weight_free_path_keeps_no_state_between_objects(synthetic_dataset):
    """The same clicks give the same mask whatever was segmented before (GrabCut's k-means used to
    draw from OpenCV's global RNG, so a click count depended on the objects counted before it)."""
    from istr_core.eval.session import load_truths
    from istr_core.formats.coco import load_coco

    ann, folder = synthetic_dataset
    for truth in load_truths(load_coco(ann, folder), folder, first=3):
        segmenter = WeightFreeSegmenter(truth.image)
        runs = [[simulate(segmenter.predict, m.astype(bool), 20, 0.85) for m in truth.masks] for _ in "ab"]
        assert runs[0] == runs[1]


def two_colour_scene(truth: np.ndarray, seed: int = 0) -> np.ndarray:
    """An object of two colours (red and blue halves) on a green textured background, all three of
    one grey level: a grey-level wand sees no edge between the object and the background."""
    rng = np.random.default_rng(seed)
    h, w = truth.shape
    grey = np.array([0.299, 0.587, 0.114])
    red, blue = np.array([200.0, 60, 60]), np.array([60.0, 80, 230])
    green = np.array([60.0, 130, 60])
    red *= green @ grey / (red @ grey)
    blue *= green @ grey / (blue @ grey)
    left = np.zeros((h, w), bool)
    left[:, : w // 2] = True
    base = np.where(truth[..., None], np.where(left[..., None], red, blue), green)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5)[..., None] * 12
    return np.clip(base + texture + rng.normal(0, 3, (h, w, 3)), 0, 255).astype(np.uint8)


def test_the_colour_path_separates_what_the_grey_wand_cannot():
    gt = disc(shape=(160, 200), centre=(100, 80), radius=40)
    image = two_colour_scene(gt)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(float)
    assert abs(grey[gt].mean() - grey[~gt].mean()) < 3  # the same grey level inside and out
    seg = WeightFreeSegmenter(image)
    assert not seg._wand_finds_object(Clicker(gt).next_click(None))  # so the colour path answers
    ious = simulate(seg.predict, gt, max_clicks=3)
    assert max(ious) >= 0.85, ious
    assert simulate(seg.predict, gt, max_clicks=3) == ious  # stateless: the same clicks, the same masks


@pytest.mark.parametrize("pad", [0, 8])
def test_a_box_alone_finds_a_two_colour_object_tight_or_loose(pad):
    gt = disc(shape=(160, 200), centre=(100, 80), radius=40)
    seg = WeightFreeSegmenter(two_colour_scene(gt))
    mask = seg.predict([], box=(60 - pad, 40 - pad, 141 + pad, 121 + pad))
    assert mask_iou(mask, gt) >= 0.85, mask_iou(mask, gt)


def test_a_small_faint_object_in_its_box_is_not_lost():
    """GrabCut keeps nothing of a 12 px disc barely brighter than its noise; the box still gives a
    mask of the object (the inscribed ellipse) instead of a speck."""
    rng = np.random.default_rng(0)
    gt = disc(shape=(200, 300), centre=(150, 100), radius=6)
    image = np.clip(rng.normal(100, 12, gt.shape) + 6 * gt, 0, 255).astype(np.uint8)
    mask = WeightFreeSegmenter(np.repeat(image[..., None], 3, 2)).predict([], box=(144, 94, 157, 107))
    assert mask_iou(mask, gt) >= 0.7, mask_iou(mask, gt)
    assert not mask[:, :144].any() and not mask[:, 157:].any()


def _fix(seg, start, truth, clicks):
    clicker, pred, ious = Clicker(truth), start, []
    for _ in range(clicks):
        clicker.next_click(pred)
        pred = seg.predict(list(clicker.clicks), prev_mask=start)
        ious.append(mask_iou(pred, truth))
    return pred, ious, clicker.clicks


def test_clicks_fix_a_given_mask_by_colour():
    """Pre-labels of a two-colour object on a background of the same grey level: one covering only
    its red half is completed by one click, one spilling 10 px over it is trimmed by negatives; the
    corrections follow colour, not grey levels (the grey wand's gave 0.48 and 0.59 here)."""
    gt = disc(shape=(160, 200), centre=(100, 80), radius=40)
    seg = WeightFreeSegmenter(two_colour_scene(gt))
    half = gt.copy()
    half[:, 100:] = False
    pred, ious, clicks = _fix(seg, half, gt, 1)
    assert ious[0] >= 0.85, ious
    assert not pred[:, :50].any() and not pred[:, 150:].any()
    assert np.array_equal(seg.predict(list(clicks), prev_mask=half), pred)  # memoised, stateless
    spilled = cv2.dilate(gt.astype(np.uint8), np.ones((21, 21), np.uint8)).astype(bool)
    _, ious, _ = _fix(seg, spilled, gt, 3)
    assert max(ious) >= 0.72, ious


def test_a_first_click_on_crowded_nuclei_finds_their_scale(nuclei_dir):
    """Real crowded nuclei (val image 4, 136 nuclei): where the wand's region bleeds into neighbours,
    a box mask around the click with a stronger outline answers the first click (mean IoU of the
    first 20 nuclei 0.64 with the wand alone, 0.85 now)."""
    from istr_core.data.images import read_image
    from istr_core.data.rle import annotation_mask
    from istr_core.formats.coco import load_coco

    folder = nuclei_dir
    image = load_coco(folder / "val.json", folder / "images").images[3]
    seg = WeightFreeSegmenter(read_image(folder / "images" / image.file_name))
    ious = []
    for ann in image.annotations[:20]:
        truth = annotation_mask(ann, image.height, image.width).astype(bool)
        ious.append(mask_iou(seg.predict([Clicker(truth).next_click(None)]), truth))
    assert np.mean(ious) >= 0.78, np.mean(ious)


def test_a_click_next_to_the_outline_fixes_that_pixel_only():
    """The colour path's disk at a click stops short of the previous mask's outline: a click one
    pixel outside it adds that pixel, not a 3x3 disk that spills past the true edge (the next click
    then carves it back with a bit of the object, and 20-pixel objects never converged)."""
    from istr_core.interactive.weightfree import _seed_radii

    prev = np.zeros((20, 20), bool)
    prev[5:10, 5:10] = True
    assert _seed_radii(prev, [Click(True, 7, 7), Click(True, 10, 7)]) == [0, 0]  # adjacent
    assert _seed_radii(prev, [Click(True, 7, 7), Click(True, 14, 7)]) == [0, 1]  # far: a disk
    assert _seed_radii(prev, [Click(True, 7, 7), Click(False, 9, 7)]) == [0, 0]  # on the inner edge
    assert _seed_radii(np.zeros((20, 20), bool), [Click(True, 7, 7)]) == [1]
    out = enforce_clicks(prev, [Click(True, 7, 7), Click(True, 10, 7)], [0, 0])
    assert out.sum() == 26 and out[7, 10]


def test_clicks_converge_on_tiny_real_nuclei(nuclei_dir):
    """Real fragments of 20-140 pixels (nuclei val image 3): with 3x3 disks at every click the
    protocol oscillated and 10 of the first 20 never reached IoU 0.85 in 20 clicks; all do now
    (mean NoC 11.7 -> 8.1 with disks that stop at the outline -> 7.0 with corrections enlarged 2x,
    not 4x)."""
    from istr_core.data.images import read_image
    from istr_core.data.rle import annotation_mask
    from istr_core.formats.coco import load_coco

    folder = nuclei_dir
    image = load_coco(folder / "val.json", folder / "images").images[2]
    seg = WeightFreeSegmenter(read_image(folder / "images" / image.file_name))
    reached, nocs = 0, []
    for ann in image.annotations[:20]:
        truth = annotation_mask(ann, image.height, image.width).astype(bool)
        ious = simulate(seg.predict, truth, 20, stop_at=0.85)
        reached += max(ious) >= 0.85
        nocs.append(clicks_to_reach(ious, 0.85))
    assert reached >= 18, reached
    assert np.mean(nocs) <= 7.5, nocs


def test_large_rimmed_droplets_are_clicked_in_two(droplets_dir):
    """Real droplets of ~4,700 px with a dark rim (train video1image0.jpg, objects 1, 3, 4, 5): a
    first-click square whose mask only reshapes the wand's region (IoU >= 0.8) beat it on outline
    strength, and the colour corrections after it never converged (16-20 clicks each); the wand's
    grey-level path gets each in 2."""
    from istr_core.data.images import read_image
    from istr_core.data.rle import annotation_mask
    from istr_core.formats.coco import load_coco

    image = next(
        i
        for i in load_coco(droplets_dir / "train.json", droplets_dir / "images").images
        if i.file_name == "video1image0.jpg"
    )
    seg = WeightFreeSegmenter(read_image(droplets_dir / "images" / image.file_name))
    nocs = []
    for k in (1, 3, 4, 5):
        truth = annotation_mask(image.annotations[k], image.height, image.width).astype(bool)
        nocs.append(clicks_to_reach(simulate(seg.predict, truth, 20, stop_at=0.85), 0.85))
    assert max(nocs) <= 3, nocs
