"""Where the shipped files live (default model, samples, icons): ``resources/`` at the project root."""

from __future__ import annotations

import os
from pathlib import Path

RESOURCES_DIR = Path(os.environ.get("ISTR_RESOURCES", Path(__file__).resolve().parents[2] / "resources"))
DEFAULT_MODEL = RESOURCES_DIR / "default_model.pt"
SAMPLES_DIR = RESOURCES_DIR / "samples"
