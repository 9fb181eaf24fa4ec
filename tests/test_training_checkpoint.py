"""Resuming from, and reading optimizer states out of, damaged ``landscape train`` checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from landscape.errors import LandscapeError
from landscape.training_checkpoint import load_optimizer_state_dict, restore_training_state
from tests.cli_errors import one_line_error, run
from tests.conftest import tiny_net
from tests.helpers_specs import tiny_args

TRAIN = ["train", "--optimizer", "sgd", "--lr", "0.05", "--epochs", "2", "--max-samples", "32"]


def _train_checkpoint(path: Path, **changes: object) -> Path:
    net = tiny_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    saved = {
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "optimizer_name": "sgd",
        "rng_state": torch.get_rng_state(),
    }
    saved.update(changes)
    torch.save(saved, path)
    return path


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty file"),
        (b"\x80\x02h\x05.", "not a readable PyTorch file"),
    ],
    ids=["empty", "damaged"],
)
def test_train_resume_from_a_damaged_last_checkpoint(tmp_path, content, match):
    out = tmp_path / "run"
    assert run(*TRAIN, "--out", str(out)).exit_code == 0
    (out / "checkpoints" / "epoch_0002.pt").write_bytes(content)
    line = one_line_error(run(*TRAIN, "--out", str(out)))
    assert match in line and "epoch_0002.pt" in line and "pass --overwrite" in line
    assert run(*TRAIN, "--out", str(out), "--overwrite").exit_code == 0


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"model": {"w": torch.zeros(2)}}, "does not fit the model"),
        ({"model": "x"}, "'model' is not a state dict"),
        ({"optimizer": {"state": {}, "param_groups": "x"}}, "'param_groups' must be a non-empty"),
        ({"rng_state": torch.zeros(3)}, r"cannot resume from it \(TypeError: RNG state"),
    ],
    ids=["other_model", "model_not_dict", "param_groups", "rng_state"],
)
def test_restore_refuses_wrong_checkpoints(tmp_path, changes, match):
    path = _train_checkpoint(tmp_path / "c.pt", **changes)
    net = tiny_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(LandscapeError, match=match) as err:
        restore_training_state(path, net, opt)
    assert "c.pt" in str(err.value) and "pass --overwrite" in str(err.value)


def test_restore_loads_model_optimizer_and_rng(tmp_path):
    path = _train_checkpoint(tmp_path / "c.pt")
    rng = torch.get_rng_state()
    torch.rand(5)
    net = tiny_net()
    with torch.no_grad():
        net.fc.weight.zero_()
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    restore_training_state(path, net, opt)
    assert torch.equal(net.fc.weight, tiny_net().fc.weight)
    assert opt.param_groups[0]["lr"] == 0.1 and torch.equal(torch.get_rng_state(), rng)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"optimizer_name": "lbfgs"}, "unknown optimizer 'lbfgs'; expected one of sgd, adam"),
        ({"optimizer": {"state": {}, "param_groups": "x"}}, "'param_groups' must be a non-empty"),
        ({"optimizer": {"state": {}, "param_groups": [{"params": "ab"}]}}, "list of parameter"),
        ({"optimizer": {"state": [], "param_groups": [{"params": [0]}]}}, "'state' must map"),
        (
            {"optimizer": {"state": {}, "param_groups": [{"params": [0], "lr": -1}]}},
            r"\['lr'\] must be a finite",
        ),
    ],
    ids=["lbfgs", "param_groups_str", "params_str", "state_list", "negative_lr"],
)
def test_optimizer_state_refuses_malformed(tmp_path, changes, match):
    path = _train_checkpoint(tmp_path / "c.pt", **changes)
    with pytest.raises(LandscapeError, match=match):
        load_optimizer_state_dict(path)


def test_optimizer_state_name_given_wins(tmp_path):
    path = _train_checkpoint(tmp_path / "c.pt", optimizer_name="lbfgs")
    state, name = load_optimizer_state_dict(path, name="SGD")
    assert name == "sgd" and state["param_groups"][0]["momentum"] == 0.9


def test_sharpness_cli_with_malformed_optimizer_state(tmp_path, ckpt):
    bad = _train_checkpoint(tmp_path / "opt.pt", optimizer={"state": {}, "param_groups": "x"})
    out = tmp_path / "s.h5"
    res = run(
        "sharpness",
        *tiny_args(ckpt),
        "--optimizer-state",
        str(bad),
        "--out",
        str(out),
    )
    assert "opt.pt: 'param_groups' must be a non-empty list of dicts (got str)" in one_line_error(
        res
    )
    assert not out.exists()
