"""`istr train`'s input scale from the objects: small images of large objects train unenlarged (a
quarter of the pixels per step); data with small objects keeps the preset's scale."""

from __future__ import annotations

from istr_core.formats.coco import parse_coco
from istr_core.train.recipes import MIN_INPUT_SIDE, model_config_for, object_side


def coco_of(size: int, sides: list[float], images: int = 4):
    """``images`` images of size x size, each with square boxes of ``sides``; one is a polygon."""
    anns, k = [], 0
    for i in range(images):
        for s in sides:
            k += 1
            anns.append(
                {
                    "id": k,
                    "image_id": i + 1,
                    "category_id": 1,
                    "bbox": [1, 1, s, s],
                    "area": s * s,
                    "segmentation": [[1, 1, 1 + s, 1, 1 + s, 1 + s, 1, 1 + s]],
                }
            )
    anns[0] = {k: v for k, v in anns[0].items() if k != "bbox"}  # its side from the polygon
    data = {
        "images": [
            {"id": i + 1, "file_name": f"{i}.png", "height": size, "width": size} for i in range(images)
        ],
        "annotations": anns,
        "categories": [{"id": 1, "name": "thing"}],
    }
    return parse_coco(data, "mem.json", None, require_images=False)


def test_small_images_of_large_objects_train_at_their_own_size():
    config = model_config_for(coco_of(256, [40.0, 60.0, 90.0]), "cpu-small")
    preset = model_config_for(coco_of(256, [40.0, 60.0, 90.0]), "cpu-small", scale_from_objects=False)
    assert preset.input.min_size == 512 and config.input.min_size == 256
    assert config.input.train_min_sizes == tuple(round(s / 2) for s in preset.input.train_min_sizes)
    assert config.input.max_size == round(preset.input.max_size / 2)


def test_small_objects_keep_the_preset_scale_and_it_only_goes_as_low_as_they_need():
    assert model_config_for(coco_of(256, [10.0, 60.0, 90.0]), "cpu-small").input.min_size == 512
    # 24 px objects at the small end reach 32 px at 4/3 of the images' 300 px: 400
    assert model_config_for(coco_of(300, [24.0, 24.0, 90.0]), "cpu-small").input.min_size == 400
    # large objects in tiny images: never below MIN_INPUT_SIDE
    assert model_config_for(coco_of(64, [40.0]), "cpu-small").input.min_size == MIN_INPUT_SIDE


def test_explicit_input_options_and_other_presets_win():
    coco = coco_of(256, [40.0, 60.0, 90.0])
    assert model_config_for(coco, "cpu-small", min_size=300).input.min_size == 300
    assert model_config_for(coco, "paper").input.min_size == 800  # the GPU preset is left as it is


def test_object_side_from_a_box_a_polygon_or_a_mask():
    assert object_side({"bbox": [0, 0, 4, 9]}, 20, 20) == 6.0
    assert object_side({"segmentation": [[0, 0, 4, 0, 4, 9, 0, 9]]}, 20, 20) == 6.0
    rle = {"size": [20, 20], "counts": [0, 3, 17, 3, 377]}  # 3 rows x 2 columns at the top left
    assert abs(object_side({"segmentation": rle}, 20, 20) - (3 * 2) ** 0.5) < 1e-9
