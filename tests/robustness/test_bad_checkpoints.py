"""Checkpoints that are not ours, from another version, for other classes, or booby-trapped: every
command that reads one refuses it with one line, and a crafted pickle never runs."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from tests.conftest import make_tiny_checkpoint
from tests.robustness.conftest import assert_clean_failure


class _Evil:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def _bad_checkpoint(kind: str, folder, tiny_checkpoint):
    path = folder / f"{kind}.pt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a checkpoint")
    elif kind == "plain pickle":
        path.write_bytes(pickle.dumps({"format": "istr-studio-checkpoint"}))
    elif kind == "state dict":
        torch.save({"weight": torch.zeros(2)}, path)
    elif kind == "truncated":
        path.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    elif kind == "future version":
        raw = torch.load(tiny_checkpoint, weights_only=True)
        torch.save({**raw, "format_version": 99}, path)
    elif kind == "evil torch.save":
        torch.save({"format": "istr-studio-checkpoint", "x": _Evil(folder / "marker")}, path)
    elif kind == "evil pickle":
        path.write_bytes(pickle.dumps(_Evil(folder / "marker")))
    return path


KINDS = {
    "empty": "not a loadable",
    "text": "not a loadable",
    "plain pickle": "not a",
    "state dict": "not an ISTR Studio checkpoint",
    "truncated": "not a loadable",
    "future version": "format version 99 is not supported",
    "evil torch.save": "not a loadable",
    "evil pickle": "not a loadable",
}


def _command(command, weights, ann, folder, out):
    if command == "segment":
        return ["segment", folder, "--out", out, "--weights", weights]
    if command == "eval":
        return ["eval", ann, "--images", folder, "--weights", weights]
    if command == "finetune":
        return ["finetune", ann, "--images", folder, "--out", out, "--weights", weights, "--iterations", "1"]
    return [
        "train",
        ann,
        "--images",
        folder,
        "--out",
        weights,
        "--resume",
        "--iterations",
        "1",
    ]  # resume reads --out


# train reads a checkpoint only on --resume (from --out); three kinds are enough there
CASES = [(c, k) for c in ("segment", "eval", "finetune") for k in sorted(KINDS)] + [
    ("train", k) for k in ("text", "evil torch.save", "future version")
]


@pytest.mark.parametrize("command, kind", CASES)
def test_every_command_refuses_a_bad_checkpoint(
    run, synthetic_dataset, tiny_checkpoint, tmp_path, command, kind
):
    ann, folder = synthetic_dataset
    weights = _bad_checkpoint(kind, tmp_path, tiny_checkpoint)
    before = weights.read_bytes()
    out = tmp_path / ("out.json" if command == "segment" else "out.pt")
    r = run(*_command(command, weights, ann, folder, out), "--device", "cpu")
    assert_clean_failure(r, str(weights), KINDS[kind], out=out)
    assert not (tmp_path / "marker").exists(), "the crafted pickle ran code"
    assert weights.read_bytes() == before


def test_eval_with_a_checkpoint_for_other_classes_says_so(run, synthetic_dataset, tmp_path):
    ann, folder = synthetic_dataset
    other = make_tiny_checkpoint(tmp_path / "pets.pt", class_names=("cat", "dog"))
    r = run("eval", ann, "--images", folder, "--weights", other, "--device", "cpu")
    assert_clean_failure(
        r, str(other), "has classes cat, dog", "ellipse, polygon, ring, blob", "no class name matches"
    )


def test_eval_warns_when_the_checkpoint_lacks_some_classes(run, synthetic_dataset, tmp_path):
    ann, folder = synthetic_dataset
    data = json.loads(ann.read_text())
    data["images"] = data["images"][:1]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] == data["images"][0]["id"]]
    small = tmp_path / "one.json"
    small.write_text(json.dumps(data))
    partial = make_tiny_checkpoint(tmp_path / "partial.pt", class_names=("ellipse", "dog"))
    r = run("eval", small, "--images", folder, "--weights", partial, "--device", "cpu", "--json")
    assert r.exit_code == 0, r.output
    assert "warning: checkpoint" in r.stderr and "no class for polygon, ring, blob" in r.stderr
