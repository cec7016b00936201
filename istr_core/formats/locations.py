"""Where an annotation file's images and its fine-tuned model live, so the loop's commands work as a
new user types them: ``istr segment photos/ --out anns.json``, correct it, ``istr finetune anns.json``,
``istr segment photos/ --weights anns``.

Files written by ``istr segment`` and ``istr-app`` record their image folder in COCO's ``info``
(relative to the JSON, and absolute as a fallback when the JSON is moved without its images).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .dataset import AnnotationError

MODELS_DIR = ".istr_models"  # where istr-app keeps the models it trains, inside the image folder


def images_dir_info(json_path: str | os.PathLike, images_dir: str | os.PathLike) -> dict:
    """The ``info`` entries recording ``images_dir`` for a COCO file written to ``json_path``."""
    images_dir = Path(images_dir).resolve()
    parent = Path(json_path).resolve().parent
    return {
        "images_dir": Path(os.path.relpath(images_dir, parent)).as_posix(),
        "images_dir_absolute": str(images_dir),
    }


def resolve_images_dir(annotations: str | os.PathLike, images: str | os.PathLike | None = None) -> Path:
    """``images`` when given; else the folder the file records, else the file's own folder: the first
    of them that holds the file's first image. Raises :class:`AnnotationError` naming what was tried."""
    if images is not None:
        return Path(images)
    annotations = Path(annotations)
    if annotations.is_dir() or annotations.suffix.lower() != ".json":
        return _layout_images_dir(annotations)
    data = _read(annotations)
    candidates = _candidates(annotations, data.get("info"))
    first = _first_file_name(data)
    if first is None:
        return candidates[0]
    for folder in candidates:
        if (folder / first).is_file():
            return folder
    tried = ", ".join(dict.fromkeys(str(c) for c in candidates))
    raise AnnotationError(
        f"{annotations}: cannot find its images ({first!r} is not in {tried}); pass --images DIR"
    )


def default_checkpoint_for(annotations: str | os.PathLike) -> Path:
    """``anns.json`` -> ``anns.pt`` beside it: the model fine-tuned on that file."""
    return Path(annotations).with_suffix(".pt")


def resolve_weights(
    weights: str | os.PathLike | None, folder: str | os.PathLike | None = None
) -> Path | None:
    """A checkpoint given by path or by name: ``anns`` finds ``anns.pt`` here, in ``folder`` or in
    ``folder/.istr_models``. Unfound names are returned unchanged (the loader says "not found")."""
    if weights is None:
        return None
    weights = Path(weights)
    if weights.is_file():
        return weights
    names = [weights] if weights.suffix == ".pt" else [weights, weights.with_name(weights.name + ".pt")]
    places = [Path(".")] + ([Path(folder), Path(folder) / MODELS_DIR] if folder is not None else [])
    for name in names:
        for place in places:
            candidate = name if name.is_absolute() else place / name
            if candidate.is_file():
                return candidate
    return weights


def _layout_images_dir(path: Path) -> Path:
    """A dataset folder's (or its yaml/xml file's) image folder: ``images/`` for YOLO and CVAT exports,
    ``JPEGImages/`` for VOC, else the folder itself (labelme keeps each JSON beside its image)."""
    root = path if path.is_dir() else path.parent
    for sub in ("images", "JPEGImages"):
        if (root / sub).is_dir():
            return root / sub
    return root


def _read(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise AnnotationError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AnnotationError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected a JSON object (a COCO instances file)")
    return data


def _candidates(annotations: Path, info) -> list[Path]:
    parent = annotations.parent
    out = []
    if isinstance(info, dict):
        if isinstance(info.get("images_dir"), str):
            out.append(parent / info["images_dir"])
        if isinstance(info.get("images_dir_absolute"), str):
            out.append(Path(info["images_dir_absolute"]))
    return out + [parent]


def _first_file_name(data: dict) -> str | None:
    images = data.get("images")
    if isinstance(images, list) and images and isinstance(images[0], dict):
        name = images[0].get("file_name")
        return name if isinstance(name, str) and name else None
    return None
