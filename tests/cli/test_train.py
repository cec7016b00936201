"""`istr train`: the precision switch reaches the saved training config."""

import pytest

from istr_core.train.checkpoint import load_checkpoint


@pytest.mark.parametrize("flag, expected", [(None, True), ("--no-bf16", False)])
def test_bf16_is_on_by_default_and_can_be_switched_off(run, synthetic_dataset, tmp_path, flag, expected):
    ann, folder = synthetic_dataset
    out = tmp_path / "m.pt"
    args = [
        "train",
        ann,
        "--images",
        folder,
        "--out",
        out,
        "--iterations",
        "1",
        "--proposals",
        "10",
        "--device",
        "cpu",
        "--workers",
        "0",
    ] + ([flag] if flag else [])
    result = run(*args)
    assert result.exit_code == 0, result.output
    tc = load_checkpoint(out).train_config
    assert tc.cpu_amp is expected and tc.amp is expected
