import pickle

import pytest
import torch

from istr_core.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tests.conftest import make_tiny_checkpoint


def test_round_trip_gives_identical_predictions(tiny_checkpoint, tmp_path):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert ckpt.class_names == ["ellipse", "polygon", "ring", "blob"]
    model = ckpt.build_model()
    copy = tmp_path / "copy.pt"
    save_checkpoint(copy, ckpt)
    again = load_checkpoint(copy).build_model()
    image = [torch.rand(3, 80, 100, generator=torch.Generator().manual_seed(1))]
    with torch.no_grad():
        a, b = model(image)[0], again(image)[0]
    assert torch.equal(a["boxes"], b["boxes"]) and torch.equal(a["masks"], b["masks"])


def test_checkpoint_is_self_describing(tiny_checkpoint):
    raw = torch.load(tiny_checkpoint, weights_only=True)
    assert raw["model_config"]["head"]["num_proposals"] == 12
    assert any(k.startswith("codec.") for k in raw["model_state"])  # the mask codec travels along


def test_half_precision_export_still_loads(tmp_path, tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    path = save_checkpoint(tmp_path / "half.pt", ckpt, half=True)
    assert path.stat().st_size < tiny_checkpoint.stat().st_size * 0.6
    load_checkpoint(path).build_model()


class _Evil:
    def __reduce__(self):
        return (exec, ("open('/tmp/istr_pwned', 'w').write('x')",))


def test_crafted_pickle_is_refused_without_running_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "istr-studio-checkpoint", "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="not a loadable"):
        load_checkpoint(path)
    import os

    assert not os.path.exists("/tmp/istr_pwned")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", pickle.dumps({"a": 1})])
def test_garbage_files_are_refused(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_other_tensor_files_and_versions_are_refused(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="not an ISTR Studio checkpoint"):
        load_checkpoint(plain)
    future = tmp_path / "future.pt"
    raw = torch.load(make_tiny_checkpoint(tmp_path / "t.pt"), weights_only=True)
    raw["format_version"] = 99
    torch.save(raw, future)
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(future)
