"""XTrace, the Hutchinson diagonal and the squared Frobenius norm against exact values."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.curvature.estimators import hutchinson_diagonal, hutchinson_frobenius
from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.trace import hutchinson_trace, hutchpp_trace, probes, xtrace
from landscape.errors import LandscapeError
from tests.curvature.cases import decaying, dense_hessian, mlp_objective
from tests.helpers_specs import tiny_args


@pytest.fixture(scope="module")
def network() -> tuple[HessianLinearOperator, torch.Tensor]:
    obj, params = mlp_objective(30, batch_size=13)
    dense = dense_hessian(obj, params)
    return HessianLinearOperator(obj, params), dense


def test_xtrace_equals_its_leave_one_out_definition() -> None:
    mat = decaying(30, 4, power=1.0) + torch.diag(torch.linspace(0, 1, 30, dtype=torch.float64))
    est = xtrace(mat, 12, seed=3)
    omega = probes(30, 6, seed=3, distribution="gaussian")
    omega = omega * (30**0.5 / omega.norm(dim=0))  # on the sphere of radius sqrt(n)
    y = mat @ omega
    eye = torch.eye(30, dtype=torch.float64)
    samples = []
    for i in range(6):
        q, _ = torch.linalg.qr(torch.cat([y[:, :i], y[:, i + 1 :]], dim=1))
        rest = eye - q @ q.T
        w = omega[:, i]
        scale = (30 - 6 + 1) / float((rest @ w).norm() ** 2)
        samples.append(float((q.T @ mat @ q).trace() + scale * (w @ rest @ mat @ rest @ w)))
    assert est.estimate == pytest.approx(np.mean(samples), rel=1e-10)
    assert est.std_error == pytest.approx(np.std(samples, ddof=1) / np.sqrt(6), rel=1e-8)
    assert est.num_matvecs == 12 and est.method == "xtrace"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_xtrace_within_three_standard_errors(seed: int) -> None:
    mat = decaying(100, seed, power=1.0) + 0.1 * torch.eye(100, dtype=torch.float64)
    est = xtrace(mat, 60, seed=seed)
    assert est.std_error > 0
    assert abs(est.estimate - float(mat.trace())) <= 3 * est.std_error


def test_xtrace_captures_the_top_of_a_decaying_spectrum() -> None:
    mat = decaying(200, 0)
    exact = float(mat.trace())
    err_h = np.mean([abs(hutchinson_trace(mat, 30, seed=s).estimate - exact) for s in range(20)])
    err_xt = np.mean([abs(xtrace(mat, 30, seed=s).estimate - exact) for s in range(20)])
    err_pp = np.mean([abs(hutchpp_trace(mat, 30, seed=s).estimate - exact) for s in range(20)])
    assert err_xt < 0.1 * err_h and err_xt < 1.5 * err_pp


def test_xtrace_of_low_rank_and_of_a_network(network: tuple) -> None:
    low = torch.diag(torch.tensor([4.0, 2.0, 1.0] + [0.0] * 17, dtype=torch.float64))
    est = xtrace(low, 10)
    assert est.estimate == pytest.approx(7.0, rel=1e-12) and est.std_error == 0.0
    op, dense = network
    for seed in range(3):
        est = xtrace(op, 40, seed=seed)
        assert abs(est.estimate - float(dense.trace())) <= 3 * est.std_error


def z_scores(estimate: np.ndarray, exact: np.ndarray, se: np.ndarray) -> np.ndarray:
    return (estimate - exact) / se


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_diagonal_within_three_standard_errors(seed: int) -> None:
    mat = decaying(80, seed, power=0.5)
    est = hutchinson_diagonal(mat, 200, seed=seed)
    z = z_scores(est.diagonal, mat.diagonal().numpy(), est.std_error)
    assert est.num_matvecs == 200 and est.diagonal.shape == (80,)
    assert (np.abs(z) <= 3).mean() >= 0.97  # about 99.7% of entries for normal errors
    assert 0.5 < float(np.mean(z**2)) < 2.0  # the standard errors are the right size


def test_diagonal_and_frobenius_of_a_network_hessian(network: tuple) -> None:
    op, dense = network
    est = hutchinson_diagonal(op, 300, seed=1)
    z = z_scores(est.diagonal, dense.diagonal().numpy(), est.std_error)
    live = est.std_error > 0
    assert (np.abs(z[live]) <= 3).mean() >= 0.97
    exact = float((dense**2).sum())
    for seed in range(3):
        fro = hutchinson_frobenius(op, 60, seed=seed)
        assert abs(fro.estimate - exact) <= 3 * fro.std_error


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_frobenius_within_three_standard_errors_over_seeds(distribution: str) -> None:
    mat = decaying(100, 1, power=0.5)
    exact = float((mat**2).sum())
    z = np.array(
        [
            (est.estimate - exact) / est.std_error
            for est in (
                hutchinson_frobenius(mat, 50, seed=s, distribution=distribution)  # type: ignore[arg-type]
                for s in range(40)
            )
        ]
    )
    # ||H z||² is skewed, so a little more than 0.3% fall outside 3 standard errors
    assert (np.abs(z) <= 3).mean() >= 0.95
    assert 0.5 < float(np.mean(z**2)) < 2.0


def test_estimator_bad_arguments() -> None:
    eye = torch.eye(5, dtype=torch.float64)
    with pytest.raises(LandscapeError, match="XTrace needs at least 4 products"):
        xtrace(eye, 3)
    with pytest.raises(LandscapeError, match="diagonal: Hutchinson needs at least 2"):
        hutchinson_diagonal(eye, 1)
    with pytest.raises(LandscapeError, match="frobenius: Hutchinson needs at least 2"):
        hutchinson_frobenius(eye, 1)
    with pytest.raises(LandscapeError, match="distribution should be one of"):
        hutchinson_diagonal(eye, 4, distribution="uniform")  # type: ignore[arg-type]
    assert xtrace(eye, 40).num_matvecs == 10  # at most n test vectors: 2 n products


def test_cli_trace_method_xtrace(tmp_path: Path, ckpt: Path) -> None:
    out = tmp_path / "x.h5"
    args = tiny_args(ckpt, "--top-k", "1", "--trace", "--trace-method", "xtrace")
    res = CliRunner().invoke(cli, ["-q", "hessian", *args, "--trace-hvps", "13", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as f:
        trace = f["curvature/hessian/trace"].attrs
        assert trace["method"] == "xtrace" and trace["num_matvecs"] == 12  # 2 (13 // 2)
        assert trace["std_error"] > 0
