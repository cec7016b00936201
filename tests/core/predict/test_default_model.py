"""The embedded default model is a safe, current-recipe checkpoint that segments the shipped samples."""

from __future__ import annotations

from istr_core.config import cpu_small_config
from istr_core.data.images import read_image
from istr_core.data.shipped import DEFAULT_MODEL, RESOURCES_DIR
from istr_core.predict.segmenter import Segmenter
from istr_core.train.checkpoint import load_checkpoint


def test_the_default_model_has_todays_recipe_and_finds_objects_in_a_sample():
    ckpt = load_checkpoint(DEFAULT_MODEL)  # weights_only=True inside
    recipe, head = cpu_small_config(1).head, ckpt.model_config.head
    # every fine-tune inherits these: a default model of an older recipe would hold them all back
    assert head.num_stages == recipe.num_stages
    assert head.num_denoising_groups >= 1 and head.num_aux_proposals > 0
    assert ckpt.class_names == ["object"]
    image = read_image(sorted((RESOURCES_DIR / "samples").glob("*.jpg"))[0])
    predictions = Segmenter(ckpt, "cpu").predict(image, 0.3)
    assert 1 <= len(predictions) <= 20  # a sample scene holds up to 8 objects
