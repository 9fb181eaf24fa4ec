from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.preconditioned import (
    OptimizerState,
    directional_curvature,
    from_optimizer,
    from_state_dict,
    preconditioned_sharpness,
    preconditioner,
    stability_threshold,
    update_direction,
)
from landscape.curvature.tracking import KEYS, SharpnessProbe
from landscape.data import Split
from landscape.errors import LandscapeError
from landscape.models import MLP
from landscape.objective import Objective
from landscape.params import flatten, model_params
from tests.curvature.cases import dense_hessian

OPTIMIZERS = {
    "adam": lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.8, 0.99)),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2, amsgrad=True),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.5, centered=True),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=1e-1, lr_decay=0.01),
}


def trained(name: str, steps: int = 4) -> tuple[torch.nn.Module, torch.optim.Optimizer, Split]:
    torch.manual_seed(0)
    model = MLP(6, 3, hidden=(5,)).double()
    gen = torch.Generator().manual_seed(1)
    data = Split(
        torch.randn(24, 6, generator=gen, dtype=torch.float64),
        torch.randint(0, 3, (24,), generator=gen),
    )
    opt = OPTIMIZERS[name](model.parameters())
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(data.x), data.y).backward()
        opt.step()
    return model, opt, data


def dense_preconditioner(name: str, opt: torch.optim.Optimizer) -> torch.Tensor:
    """prec written out from torch's own update rules, independently of the module."""
    group = opt.param_groups[0]
    parts = []
    for p in group["params"]:
        s = opt.state[p]
        if name in ("adam", "adamw"):
            b1, b2 = group["betas"]
            t = float(s["step"])
            v = s["max_exp_avg_sq"] if group["amsgrad"] else s["exp_avg_sq"]
            parts.append((1 - b1**t) * ((v / (1 - b2**t)).sqrt() + group["eps"]))
        elif name == "rmsprop":
            parts.append((s["square_avg"] - s["grad_avg"] ** 2).sqrt() + group["eps"])
        else:
            parts.append(s["sum"].sqrt() + group["eps"])
    return torch.cat([t.reshape(-1) for t in parts]).double()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_preconditioned_sharpness_equals_dense(name: str) -> None:
    model, opt, data = trained(name)
    obj = Objective(model, data)
    params = model_params(model)
    hess = dense_hessian(obj, params)
    prec = dense_preconditioner(name, opt)
    expected = np.linalg.eigvalsh((hess / prec.sqrt()[:, None] / prec.sqrt()[None, :]).numpy())[-1]
    state = from_optimizer(opt, model)
    got = preconditioned_sharpness(
        HessianLinearOperator(obj, params), preconditioner(state, params), list(params), tol=1e-9
    )
    assert got.eigenvalues[0] == pytest.approx(expected, rel=1e-7)
    saved = from_state_dict(opt.state_dict(), type(opt).__name__, dict(enumerate(params)))
    torch.testing.assert_close(flatten(preconditioner(saved, params)), prec)


def test_stability_thresholds_closed_forms() -> None:
    def th(name: str, **h: object) -> float:
        return stability_threshold(OptimizerState(name, h, {"w": {"step": torch.tensor(11.0)}}, {}))

    assert th("sgd", lr=0.1) == pytest.approx(20.0)
    assert th("sgd", lr=0.1, momentum=0.9) == pytest.approx(38.0)
    assert th("sgd", lr=0.1, momentum=0.5, dampening=0.5) == pytest.approx(60.0)
    assert th("sgd", lr=0.1, momentum=0.5, nesterov=True) == pytest.approx(15.0)
    assert th("adam", lr=0.01, betas=(0.9, 0.999)) == pytest.approx(3800.0)
    assert th("rmsprop", lr=0.01, momentum=0.0) == pytest.approx(200.0)
    assert th("adagrad", lr=0.1, lr_decay=0.1) == pytest.approx(40.0)
    assert math.isnan(th("lbfgs", lr=1.0))


def test_update_direction_of_adam_is_its_preconditioned_momentum() -> None:
    model, opt, _ = trained("adam")
    params = model_params(model)
    state = from_optimizer(opt, model)
    grads = {k: torch.ones_like(v) for k, v in params.items()}
    d = update_direction(state, grads)
    m = torch.cat([opt.state[p]["exp_avg"].reshape(-1) for p in model.parameters()])
    expected = -m / dense_preconditioner("adam", opt)
    torch.testing.assert_close(flatten(d), expected / expected.norm())
    hess = torch.diag(torch.arange(1.0, 4.0, dtype=torch.float64))
    assert directional_curvature(hess, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)) == 2.0


def test_state_errors() -> None:
    with pytest.raises(LandscapeError, match="expected an optimizer state_dict"):
        from_state_dict({"state": {}}, "adam", {})
    with pytest.raises(LandscapeError, match="parameter index 5 has no model parameter"):
        from_state_dict(
            {"state": {}, "param_groups": [{"lr": 0.1, "params": [5]}]}, "adam", {0: "w"}
        )
    opt = OptimizerState("adam", {"lr": 0.1}, {"w": {}}, {"w": 1.0})
    with pytest.raises(LandscapeError, match="has no 'exp_avg_sq'"):
        preconditioner(opt, {"w": torch.zeros(2)})


def test_probe_reports_sharpness_and_warm_starts() -> None:
    model, opt, data = trained("adam")
    probe = SharpnessProbe(model, data, subset=16, seed=0, tol=1e-8)
    params = model_params(model)
    first = probe(params, opt)
    assert set(first) == set(KEYS)
    sub = probe.objective
    hess = dense_hessian(sub, params)
    assert first["lambda_max"] == pytest.approx(float(torch.linalg.eigvalsh(hess)[-1]), rel=1e-7)
    prec = dense_preconditioner("adam", opt)
    expected = float(torch.linalg.eigvalsh(hess / prec.sqrt()[:, None] / prec.sqrt()[None, :])[-1])
    assert first["precond_lambda_max"] == pytest.approx(expected, rel=1e-7)
    assert first["stability_threshold"] == pytest.approx((2 + 2 * 0.8) / (0.2 * 1e-2))
    second = probe(params, opt)
    assert second["num_matvecs"] < first["num_matvecs"]
    assert second["lambda_max"] == pytest.approx(first["lambda_max"], rel=1e-7)


def test_probe_before_the_first_step_and_without_optimizer() -> None:
    torch.manual_seed(0)
    model = MLP(6, 3, hidden=(5,))
    data = Split(torch.randn(20, 6), torch.randint(0, 3, (20,)))
    probe = SharpnessProbe(model, data, subset=10)
    out = probe(model_params(model), torch.optim.Adam(model.parameters(), lr=1e-3))
    assert out["lambda_max"] > 0 and math.isnan(out["precond_lambda_max"])
    assert out["stability_threshold"] == pytest.approx(3800.0 * 10)
    plain = probe(model_params(model))
    assert math.isnan(plain["stability_threshold"]) and math.isnan(plain["update_curvature"])
    with pytest.raises(LandscapeError, match="subset should be at least 1"):
        SharpnessProbe(model, data, subset=0)
