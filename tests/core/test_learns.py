"""It learns: the CPU preset, trained for a few minutes on synthetic scenes, segments held-out ones.

Measured on the 2-core machine (2026-11-27): mask AP 0.010, AP50 0.057, box AP 0.059 after 400 iterations
(6.0 min) - far below the threshold, so the test is marked xfail until the CPU preset converges faster.
"""
import dataclasses
import json
import time

import pytest

from istr_core.config import TrainConfig
from istr_core.data.coco import load_coco
from istr_core.data.synthetic import write_synthetic_coco
from istr_core.eval.coco_eval import evaluate
from istr_core.inference import Segmenter
from istr_core.training import model_config_for, train_on_coco

MIN_MASK_AP = 0.5


def _single_class(path):
    data = json.loads(path.read_text())
    for a in data["annotations"]:
        a["category_id"] = 1
    data["categories"] = [{"id": 1, "name": "object"}]
    path.write_text(json.dumps(data))
    return path


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="not met yet: mask AP 0.010 (box AP 0.059) after 400 iterations, 6.0 min, "
                                        "measured 2026-11-27 on the 2-core machine; issue #2")
def test_cpu_preset_learns_synthetic_scenes(tmp_path):
    train = _single_class(write_synthetic_coco(tmp_path / "train", 48, 128, 128, seed=10, max_objects=4))
    val = _single_class(write_synthetic_coco(tmp_path / "val", 12, 128, 128, seed=11, max_objects=4))
    coco = load_coco(train, tmp_path / "train")
    mc = model_config_for(coco, "cpu-small", min_size=128, max_size=128, train_min_sizes=(112, 128, 144))
    tc = TrainConfig(iterations=400, batch_size=4, lr=4e-4, warmup_iterations=50, lr_steps=(0.8,),
                     checkpoint_every=0, num_workers=0)
    start = time.monotonic()
    train_on_coco(train, tmp_path / "train", tmp_path / "m.pt", model_config=mc, train_config=tc, device="cpu",
                  log=lambda s: None)
    minutes = (time.monotonic() - start) / 60
    metrics = evaluate(Segmenter.from_checkpoint(tmp_path / "m.pt", "cpu"), load_coco(val, tmp_path / "val"),
                       tmp_path / "val")
    print(f"synthetic mask AP {metrics['segm']['AP']:.3f} AP50 {metrics['segm']['AP50']:.3f} "
          f"box AP {metrics['bbox']['AP']:.3f} after {minutes:.1f} min")
    assert metrics["segm"]["AP"] >= MIN_MASK_AP
