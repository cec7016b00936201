"""Shared fixtures: a tiny real ISTR checkpoint and a small synthetic COCO dataset, made on the fly."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def tiny_model_options() -> dict:
    """A model small enough that a forward pass on a 96 px image takes milliseconds."""
    return dict(
        preset="cpu-small",
        num_proposals=12,
        num_stages=2,
        hidden_dim=32,
        num_heads=2,
        dim_feedforward=64,
        dim_dynamic=8,
        mask_pooler_size=14,
        mask_size=28,
        dim=16,
        min_size=96,
        max_size=160,
        train_min_sizes=(96,),
    )


def make_tiny_checkpoint(
    path: Path, class_names=("ellipse", "polygon", "ring", "blob"), seed: int = 0
) -> Path:
    from istr_core import build_model
    from istr_core.train.checkpoint import Checkpoint, save_checkpoint

    torch.manual_seed(seed)
    model = build_model(len(class_names), "resnet18", **tiny_model_options())
    g = torch.Generator().manual_seed(seed)
    model.codec.fit((torch.rand(64, 28, 28, generator=g) > 0.5).float())
    return save_checkpoint(path, Checkpoint(model.config, list(class_names), model.state_dict()))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained but complete ISTR checkpoint (4 shape classes)."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> tuple[Path, Path]:
    """(annotations.json, images folder): 6 procedural 96x128 scenes with exact masks."""
    from istr_core.train.synthetic import write_synthetic_coco

    folder = tmp_path_factory.mktemp("synthetic")
    return write_synthetic_coco(folder, 6, height=96, width=128, seed=1, max_objects=4), folder


def _shared_dataset(name: str, marker: str) -> Path:
    """``../shared/data/<name>``, or the test skipped where ``marker`` is not in it."""
    path = SHARED_DATA / name
    if not (path / marker).is_file():
        pytest.skip(f"../shared/data/{name} is not available")
    return path


@pytest.fixture
def nuclei_dir() -> Path:
    return _shared_dataset("nuclei", "val.json")


@pytest.fixture
def droplets_dir() -> Path:
    return _shared_dataset("droplets", "train.json")
