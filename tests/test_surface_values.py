"""Surface values against a plain per-point evaluation (the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import landscape
from landscape.directions import Directions, random_directions
from landscape.engine import compute_surface, grid_coords
from landscape.objective import Objective
from landscape.params import combine, model_params
from tests.conftest import tiny_data


def oracle(net, splits, origin, vectors, coords):
    out = {}
    for name, s in splits.items():
        obj = Objective(net, s, batch_size=7)
        vals = [obj.evaluate(combine(origin, list(zip(c, vectors, strict=True)))) for c in coords]
        out[f"{name}_loss"] = np.array([v[0] for v in vals])
        out[f"{name}_acc"] = np.array([v[1] for v in vals])
    return out


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("ppp", [1, 4, None])
@pytest.mark.parametrize("keep_1d", [False, True])
def test_surface_equals_per_point(net, splits, ndim, ppp, keep_1d):
    origin = model_params(net)
    dirs = random_directions(origin, ndim=ndim, seed=3, keep_1d=keep_1d)
    x = np.linspace(-1, 1, 5)
    y = np.linspace(-0.5, 0.5, 3) if ndim == 2 else None
    objectives = {k: Objective(net, s, batch_size=7) for k, s in splits.items()}
    surf = compute_surface(objectives, origin, dirs, x, y, points_per_pass=ppp, progress=False)
    expected = oracle(net, splits, origin, dirs.vectors, grid_coords(x, y))
    assert surf.complete
    for key, arr in expected.items():
        np.testing.assert_allclose(surf.values[key].ravel(), arr, rtol=2e-5, atol=1e-6)


def test_non_square_orientation(net, splits):
    """A 'model' whose loss is 10*a + b identifies each cell's coordinates."""
    origin = {k: torch.zeros_like(v) for k, v in model_params(net).items()}
    d0 = {k: torch.zeros_like(v) for k, v in origin.items()}
    d1 = {k: torch.zeros_like(v) for k, v in origin.items()}
    d0["fc.bias"][0] = 10.0  # logit 0 grows with a: CE loss is not linear, so check via the weights
    d1["fc.bias"][0] = 1.0
    x, y = np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.0, 0.5])
    objectives = {
        "train": Objective(net, splits["train"], loss="tests.test_surface_values:bias0_loss")
    }
    surf = compute_surface(objectives, origin, Directions([d0, d1], "test"), x, y, progress=False)
    assert surf.values["train_loss"].shape == (2, 4)
    np.testing.assert_allclose(surf.values["train_loss"], 10 * x[None, :] + y[:, None], atol=1e-5)


def bias0_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean of logit 0, which equals fc.bias[0] when all weights are zero."""
    return out[:, 0].mean()


def test_public_api_and_interpolation(tmp_path, net):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save(net.state_dict(), a)
    torch.manual_seed(5)
    other = type(net)()
    torch.save({"model": other.state_dict(), "epoch": 3}, b)
    data = tiny_data()
    surf = landscape.surface(
        net, a, data, dirs="interp", targets=[b], x=[-0.5, 0.0, 1.0, 1.5], progress=False
    )
    loss_a = Objective(net, landscape.data.Split(*data["train"]), batch_size=1000).evaluate(
        model_params(net)
    )[0]
    loss_b = Objective(net, landscape.data.Split(*data["train"]), batch_size=1000).evaluate(
        model_params(other)
    )[0]
    np.testing.assert_allclose(surf.values["train_loss"][[1, 2]], [loss_a, loss_b], rtol=1e-5)


def test_plane_through_three_checkpoints(tmp_path, net):
    paths = []
    nets = []
    for i in range(3):
        torch.manual_seed(i)
        m = type(net)()
        nets.append(m)
        paths.append(tmp_path / f"c{i}.pt")
        torch.save(m.state_dict(), paths[-1])
    data = tiny_data()
    surf = landscape.surface(
        nets[0],
        paths[0],
        data,
        dirs="plane",
        targets=paths[1:],
        x="0:1:2",
        y="0:1:2",
        split="train",
        progress=False,
    )
    losses = [
        Objective(nets[0], landscape.data.Split(*data["train"])).evaluate(model_params(m))[0]
        for m in nets
    ]
    z = surf.values["train_loss"]
    np.testing.assert_allclose([z[0, 0], z[0, 1], z[1, 0]], losses, rtol=1e-5)


def test_bn_recompute_leaves_model_untouched():
    from landscape.models import ResNet1d

    torch.manual_seed(0)
    net = ResNet1d(channels=4, blocks=1, batchnorm=True)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    training = net.training
    data = {"train": (torch.randn(40, 40), torch.randint(0, 10, (40,)))}
    for bn in ("eval", "recompute"):
        surf = landscape.surface(net, None, data, x="-1:1:3", bn=bn, progress=False)
        assert np.isfinite(surf.values["train_loss"]).all()
    assert net.training == training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_bn_recompute_matches_train_mode_statistics():
    """At the origin, recomputed statistics equal a fresh cumulative pass over the subset."""
    from landscape.models import ResNet1d

    torch.manual_seed(0)
    net = ResNet1d(channels=4, blocks=1, batchnorm=True)
    x, y = torch.randn(30, 40), torch.randint(0, 10, (30,))
    ref = ResNet1d(channels=4, blocks=1, batchnorm=True)
    ref.load_state_dict(net.state_dict())
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.reset_running_stats()
            m.momentum = None
    ref.train()
    with torch.no_grad():
        ref(x)
    ref.eval()
    expected = torch.nn.functional.cross_entropy(ref(x), y).item()
    surf = landscape.surface(
        net, None, {"train": (x, y)}, x=[0.0], bn="recompute", batch_size=1000, progress=False
    )
    assert surf.values["train_loss"][0] == pytest.approx(expected, rel=1e-5)


def test_nonfinite_losses_stored_as_nan(net, splits):
    origin = model_params(net)
    dirs = random_directions(origin, ndim=1, seed=0, norm="none")
    objectives = {"train": Objective(net, splits["train"])}
    surf = compute_surface(objectives, origin, dirs, np.array([0.0, 1e38]), progress=False)
    assert np.isfinite(surf.values["train_loss"][0])
    assert np.isnan(surf.values["train_loss"][1])
    assert surf.complete
