"""ISTR Studio core: the ISTR instance-segmentation model, its training, evaluation and inference.

Never imports Qt or istr_app.
"""

from .config import ModelConfig, TrainConfig
from .model.build import build_model, build_model_from_config
from .model.mask_codec import fit_mask_encoder

__all__ = ["build_model", "build_model_from_config", "fit_mask_encoder", "ModelConfig", "TrainConfig"]
__version__ = "0.1.0"
