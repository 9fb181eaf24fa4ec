"""The bottom of the spectrum: certified convergence and error bounds against dense float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.lanczos import lanczos
from landscape.data import Split
from landscape.models import MLP
from landscape.objective import Objective
from landscape.pipelines.curvature import Setup
from landscape.pipelines.curvature import hessian as hessian_run
from tests.curvature.cases import dense_hessian


@pytest.fixture(scope="module")
def trained() -> tuple[Objective, dict[str, torch.Tensor], np.ndarray]:
    """A tiny MLP trained near a minimum: a few large eigenvalues and a cluster near zero."""
    torch.manual_seed(0)
    model = MLP(6, 4, hidden=(12,)).double()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(100, 6, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (100,), generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    obj = Objective(model, Split(x, y), batch_size=45)  # batches of 45, 45, 10
    params = {k: v.detach() for k, v in model.named_parameters()}
    dense = dense_hessian(obj, params)
    return obj, params, np.linalg.eigvalsh(dense.numpy())


def nearest_gap(values: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.abs(values[:, None] - exact[None, :]).min(1)


def test_the_case_is_the_hard_one(trained: tuple) -> None:
    exact = trained[2]
    # the two smallest are negative and closer together than the old floor 1e-3 λ_max
    assert exact[0] < exact[1] < 0 < exact[-1]
    assert exact[1] - exact[0] < 1e-3 * exact[-1]
    assert (np.abs(exact) < 1e-3 * exact[-1]).sum() > 20


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_absolute_floor_of_tol_lambda_max_is_reported_as_uncertain(
    trained: tuple, seed: int
) -> None:
    obj, params, exact = trained
    op = HessianLinearOperator(obj, params)
    loose = lanczos(op, 2, which="smallest", tol=1e-3, atol=1e-3 * exact[-1], seed=seed)
    # the failure: flagged converged with the wrong values ...
    assert loose.converged.all()
    assert np.abs(loose.eigenvalues - exact[:2]).max() > 1e-3
    # ... but the bounds say so: each is wider than the value it bounds, and honest
    assert (loose.error_bounds > np.abs(loose.eigenvalues)).any()
    assert (nearest_gap(loose.eigenvalues, exact) <= loose.error_bounds).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bottom_stage_converges_to_the_relative_tolerance_by_default(
    trained: tuple, seed: int
) -> None:
    obj, params, exact = trained
    report = hessian_run(Setup(obj, params, {}), top_k=1, bottom_k=2, seed=seed, progress=False)
    bottom = report.bottom
    assert bottom is not None and bottom.converged.all()
    error = np.abs(bottom.eigenvalues - exact[:2])
    assert (error <= 1e-3 * np.abs(exact[:2])).all()
    assert (error <= bottom.error_bounds * (1 + 1e-6) + 1e-12).all()
    assert (bottom.error_bounds <= bottom.residuals).all()
    assert (bottom.error_bounds <= 1e-3 * np.abs(bottom.eigenvalues)).all()


def test_unconverged_pairs_are_not_flagged(trained: tuple) -> None:
    obj, params, exact = trained
    res = lanczos(HessianLinearOperator(obj, params), 2, which="smallest", max_iter=30)
    assert not res.converged.any()
    assert (res.residuals > 1e-3 * np.abs(res.eigenvalues)).all()
    assert (nearest_gap(res.eigenvalues, exact) <= res.error_bounds).all()


@pytest.mark.parametrize("which", ["largest", "smallest"])
def test_error_bounds_contain_the_exact_error_on_wishart(which: str) -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(60, 80, generator=gen, dtype=torch.float64)
    mat = x @ x.T / 80
    exact = np.linalg.eigvalsh(mat.numpy())
    want = exact[::-1][:3] if which == "largest" else exact[:3]
    for tol in (1e-2, 1e-4, 1e-8):
        res = lanczos(mat, 3, which=which, tol=tol, seed=0)
        error = np.abs(res.eigenvalues - want)
        assert (error <= res.error_bounds * (1 + 1e-6) + 1e-13).all()
        assert (res.error_bounds <= res.residuals).all()
