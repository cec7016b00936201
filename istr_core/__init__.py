"""ISTR Studio core: the ISTR instance-segmentation model, its training, evaluation and inference.

Never imports Qt or istr_app. The model's names are loaded on first use (PEP 562), so that
``istr --version``, ``istr --help`` and the format converters do not wait seconds for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ModelConfig, TrainConfig
    from .model.build import build_model, build_model_from_config
    from .model.mask_codec import fit_mask_encoder

__all__ = ["build_model", "build_model_from_config", "fit_mask_encoder", "ModelConfig", "TrainConfig"]
__version__ = "0.1.0"

_LAZY = {
    "ModelConfig": ".config",
    "TrainConfig": ".config",
    "build_model": ".model.build",
    "build_model_from_config": ".model.build",
    "fit_mask_encoder": ".model.mask_codec",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
