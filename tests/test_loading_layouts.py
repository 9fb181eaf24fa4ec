import argparse

import pytest
import torch
from torch import nn

from landscape.errors import LandscapeError
from landscape.loading import load_checkpoint


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def test_lightning_checkpoint_of_a_module_holding_the_network(tmp_path):
    inner = net()
    state = {f"model.{k}": v for k, v in inner.state_dict().items()}
    state["criterion.weight"] = torch.ones(2)  # a loss module's buffer, not the network's
    path = tmp_path / "epoch=3.ckpt"
    torch.save({"state_dict": state, "epoch": 3, "hyper_parameters": {"lr": 0.1}}, path)
    params, buffers = load_checkpoint(net(), path)
    for k, v in inner.state_dict().items():
        assert torch.equal((params | buffers)[k], v), k


def test_torchvision_reference_checkpoint_loads_without_trust(tmp_path):
    inner = net()
    path = tmp_path / "model_5.pth"
    saved = {
        "model": inner.state_dict(),
        "optimizer": {},
        "epoch": 5,
        "args": argparse.Namespace(lr=0.1, model="resnet18"),
    }
    torch.save(saved, path)
    params, _ = load_checkpoint(net(), path)
    assert torch.equal(params["0.weight"], inner.state_dict()["0.weight"])


def test_a_prefix_that_does_not_fit_is_still_refused(tmp_path):
    state = {f"model.{k}": v for k, v in nn.Linear(4, 3).state_dict().items()}
    path = tmp_path / "x.ckpt"
    torch.save({"state_dict": state}, path)
    with pytest.raises(LandscapeError, match="missing"):
        load_checkpoint(net(), path)
