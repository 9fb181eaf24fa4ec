from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.curvature import hutchinson_trace, hutchpp_trace, slq_density
from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.sketch import row_dots
from landscape.curvature.trace import hutchinson_samples, mean_and_error, probes
from landscape.errors import LandscapeError
from tests.curvature.cases import decaying, dense_hessian, mlp_objective


@pytest.mark.parametrize("estimator", [hutchinson_trace, hutchpp_trace])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_trace_within_three_standard_errors(estimator, seed: int) -> None:
    mat = decaying(100, seed, power=1.0) + 0.1 * torch.eye(100, dtype=torch.float64)
    est = estimator(mat, 60, seed=seed)
    assert est.num_matvecs == 60 and est.std_error > 0
    assert abs(est.estimate - float(mat.trace())) <= 3 * est.std_error


def test_trace_of_network_hessian() -> None:
    obj, params = mlp_objective(30)
    exact = float(dense_hessian(obj, params).trace())
    op = HessianLinearOperator(obj, params)
    for estimator in (hutchinson_trace, hutchpp_trace):
        est = estimator(op, 90, seed=0)
        assert abs(est.estimate - exact) <= 3 * est.std_error


def test_hutchpp_has_lower_error_at_equal_budget() -> None:
    mat = decaying(200, 0)
    exact = float(mat.trace())
    err_h = np.mean([abs(hutchinson_trace(mat, 30, seed=s).estimate - exact) for s in range(20)])
    err_pp = np.mean([abs(hutchpp_trace(mat, 30, seed=s).estimate - exact) for s in range(20)])
    assert err_pp < 0.5 * err_h


def test_trace_bad_arguments() -> None:
    mat = torch.eye(5, dtype=torch.float64)
    with pytest.raises(LandscapeError, match="at least 2 products"):
        hutchinson_trace(mat, 1)
    with pytest.raises(LandscapeError, match="Hutch\\+\\+ needs at least 4"):
        hutchpp_trace(mat, 3)
    with pytest.raises(LandscapeError, match="distribution should be one of rademacher, gaussian"):
        hutchinson_trace(mat, 4, distribution="uniform")  # type: ignore[arg-type]


def two_clusters(n: int = 200) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    values = torch.cat(
        [
            1.0 + 0.05 * torch.randn(n // 2, generator=gen),
            10.0 + 0.05 * torch.randn(n // 2, generator=gen),
        ]
    )
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return q @ torch.diag(values.double()) @ q.T


def test_slq_density_integrates_to_one_and_finds_two_clusters() -> None:
    d = slq_density(two_clusters(), num_runs=8, num_steps=30, seed=0)
    assert np.trapezoid(d.density, d.grid) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(d.weights.sum(1), 1.0, atol=1e-12)
    low = np.trapezoid(np.where(d.grid < 5.5, d.density, 0.0), d.grid)
    assert low == pytest.approx(0.5, abs=0.1)
    peaks = d.grid[1:-1][
        (d.density[1:-1] > d.density[:-2])
        & (d.density[1:-1] > d.density[2:])
        & (d.density[1:-1] > 0.05)
    ]
    assert any(abs(p - 1.0) < 0.3 for p in peaks) and any(abs(p - 10.0) < 0.3 for p in peaks)
    assert d.num_matvecs == 8 * 30 and d.nodes.shape == (8, 30)


def test_slq_density_bad_arguments() -> None:
    with pytest.raises(LandscapeError, match="num_runs >= 1"):
        slq_density(torch.eye(3, dtype=torch.float64), num_runs=0)
    with pytest.raises(LandscapeError, match="sigma should be positive"):
        slq_density(torch.eye(3, dtype=torch.float64), sigma=0.0)


def test_hutchinson_samples_are_the_per_probe_quadratic_forms() -> None:
    mat = decaying(20, 2)
    z = probes(20, 5, seed=4, distribution="gaussian")
    samples = hutchinson_samples(mat, 5, row_dots, seed=4, distribution="gaussian", what="trace")
    np.testing.assert_allclose(samples, ((mat @ z) * z).sum(0).numpy(), rtol=1e-12)
    assert samples.dtype == np.float64 and samples.shape == (5,)


def test_mean_and_error_of_per_probe_samples() -> None:
    samples = np.array([1.0, 2.0, 6.0])
    assert mean_and_error(samples) == (3.0, float(samples.std(ddof=1) / np.sqrt(3)))
    mean, error = mean_and_error(np.array([4.0]))
    assert mean == 4.0 and np.isnan(error)
