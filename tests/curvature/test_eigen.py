from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from landscape.curvature import hessian_directions, lanczos, power_iteration
from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.lanczos import lanczos_steps
from landscape.errors import LandscapeError
from landscape.objective import Objective
from landscape.params import flatten, norm
from tests.curvature.cases import dense_hessian, mlp_objective, wishart


@pytest.fixture(scope="module")
def mlp_hessian() -> tuple[Objective, dict[str, torch.Tensor], torch.Tensor]:
    obj, params = mlp_objective(40, batch_size=15)
    hess = dense_hessian(obj, params)
    return obj, params, hess


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("which", ["largest", "smallest"])
def test_lanczos_matches_eigvalsh_on_wishart(seed: int, which: str) -> None:
    mat = wishart(60, 80, seed)
    exact = np.linalg.eigvalsh(mat.numpy())
    expected = exact[::-1][:4] if which == "largest" else exact[:4]
    res = lanczos(mat, 4, which=which, tol=1e-8, seed=seed)
    np.testing.assert_allclose(res.eigenvalues, expected, rtol=1e-6)
    assert res.converged.all()
    if which == "largest":  # separated outliers converge before the Krylov space fills up
        assert res.num_matvecs < 60
    true_res = (
        (mat @ res.eigenvectors.T - res.eigenvectors.T * torch.from_numpy(res.eigenvalues))
        .norm(dim=0)
        .numpy()
    )
    assert (true_res <= 1e-8 * np.abs(res.eigenvalues) * 1.01 + 1e-12).all()
    torch.testing.assert_close(
        res.eigenvectors @ res.eigenvectors.T, torch.eye(4, dtype=torch.float64), atol=1e-8, rtol=0
    )


def test_lanczos_top_k_of_network_hessian(mlp_hessian: tuple) -> None:
    obj, params, hess = mlp_hessian
    exact = np.linalg.eigvalsh(hess.numpy())[::-1][:5]
    op = HessianLinearOperator(obj, params)
    res = lanczos(op, 5, tol=1e-7)
    np.testing.assert_allclose(res.eigenvalues, exact, rtol=1e-6)
    assert res.num_matvecs == op.num_matvecs < hess.shape[0]
    bottom = lanczos(op, 2, which="smallest", tol=1e-7, atol=1e-9, max_iter=hess.shape[0])
    np.testing.assert_allclose(
        bottom.eigenvalues, np.linalg.eigvalsh(hess.numpy())[:2], rtol=1e-6, atol=1e-9
    )


def test_default_tolerance_meets_its_residual_rule(mlp_hessian: tuple) -> None:
    hess = mlp_hessian[2]
    res = lanczos(hess, 3, tol=1e-3)
    true_res = (
        (hess @ res.eigenvectors.T - res.eigenvectors.T * torch.from_numpy(res.eigenvalues))
        .norm(dim=0)
        .numpy()
    )
    assert res.converged.all() and (true_res <= 1e-3 * np.abs(res.eigenvalues) * 1.01).all()


def test_warm_start_needs_fewer_products() -> None:
    mat = wishart(80, 100, 5)
    cold = lanczos(mat, 3, tol=1e-6, seed=0)
    warm = lanczos(mat + 1e-3 * wishart(80, 100, 6), 3, tol=1e-6, v0=cold.eigenvectors, seed=1)
    assert warm.num_matvecs < cold.num_matvecs


def test_warm_start_at_an_exact_eigenvector_still_finds_the_top() -> None:
    mat = torch.diag(torch.arange(1.0, 31.0, dtype=torch.float64))
    second = torch.zeros(30, dtype=torch.float64)
    second[28] = 1.0
    res = lanczos(mat, 1, tol=1e-8, v0=second)
    assert res.eigenvalues[0] == pytest.approx(30.0, rel=1e-8)


def test_breakdown_recovers_repeated_eigenvalues() -> None:
    mat = torch.diag(torch.tensor([5.0, 5.0, 5.0, 1.0, 0.5], dtype=torch.float64))
    res = lanczos(mat, 3, tol=1e-10, max_iter=5)
    np.testing.assert_allclose(res.eigenvalues, [5.0, 5.0, 5.0], rtol=1e-10)
    s = lanczos_steps(mat, 5, v0=torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(
        s.basis @ s.basis.T, torch.eye(5, dtype=torch.float64), atol=1e-12, rtol=0
    )


def test_power_iteration_baseline_agrees(mlp_hessian: tuple) -> None:
    _, _, hess = mlp_hessian
    exact = np.linalg.eigvalsh(hess.numpy())[::-1][:2]
    res = power_iteration(hess, 2, tol=1e-6, max_iter=5000)
    np.testing.assert_allclose(res.eigenvalues, exact, rtol=1e-5)
    assert res.converged.all()
    assert lanczos(hess, 2, tol=1e-6).num_matvecs < res.num_matvecs


def test_hessian_directions_are_unit_name_keyed_eigenvectors(mlp_hessian: tuple) -> None:
    obj, params, hess = mlp_hessian
    dirs = hessian_directions(obj, params, k=2, tol=1e-8)
    top = np.linalg.eigvalsh(hess.numpy())[::-1][:2]
    for d, lam in zip(dirs, top, strict=True):
        assert list(d) == list(params) and all(d[k].shape == params[k].shape for k in d)
        assert norm(d) == pytest.approx(1.0, abs=1e-10)
        v = flatten(d)
        assert float(v @ hess @ v) == pytest.approx(lam, rel=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(k=0), "k should be between 1 and 10"),
        (dict(k=11), "k should be between 1 and 10"),
        (dict(which="middle"), "which should be one of largest, smallest"),
        (dict(tol=0.0), "expected tol > 0 and atol >= 0"),
        (dict(atol=-1.0), "expected tol > 0 and atol >= 0"),
        (dict(k=3, max_iter=2), "max_iter should be at least k=3"),
        (dict(v0=torch.zeros(10)), "warm start should be finite, nonzero"),
        (dict(v0=torch.ones(3)), "warm start should be"),
    ],
)
def test_lanczos_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(LandscapeError, match=match):
        lanczos(torch.eye(10, dtype=torch.float64), **kwargs)


def test_power_iteration_bad_k() -> None:
    with pytest.raises(LandscapeError, match="k should be between 1 and 2"):
        power_iteration(torch.eye(2, dtype=torch.float64), 3)


def test_krylov_basis_is_preallocated_once_in_the_operators_dtype() -> None:
    mat = wishart(40, 50, 3)
    v0 = torch.ones(40, dtype=torch.float64)
    s = lanczos_steps(mat.float(), 12, v0=v0)
    assert (
        s.store.dtype == torch.float32 and s.store.shape == (13, 40) and s.size == 13
    )  # q_0..q_12
    ptr = s.store.data_ptr()
    s = lanczos_steps(mat.float(), 12, v0=v0, state=s)
    assert s.store.data_ptr() == ptr  # no copy while within the preallocated rows
    s = lanczos_steps(mat.float(), 13, v0=v0, state=s)
    assert s.store.shape == (26, 40) and s.size == 14  # continuing past it doubles once
    wide = lanczos_steps(mat.float(), 12, v0=v0, dtype=torch.float64)
    assert wide.store.dtype == torch.float64
    torch.testing.assert_close(
        s.basis.double() @ s.basis.double().T, torch.eye(14, dtype=torch.float64), atol=1e-5, rtol=0
    )
    exact = np.linalg.eigvalsh(mat.numpy())[::-1][:3]
    for dtype, vectors in ((None, torch.float32), (torch.float64, torch.float64)):
        res = lanczos(mat.float(), 3, tol=1e-5, dtype=dtype)
        np.testing.assert_allclose(res.eigenvalues, exact, rtol=1e-4)
        assert res.eigenvectors.dtype == vectors  # the Ritz vectors are in the basis dtype


def test_ritz_vectors_formed_by_slices_equal_the_one_product(monkeypatch) -> None:
    lz = importlib.import_module("landscape.curvature.lanczos")
    basis = torch.linalg.qr(wishart(50, 60, 4)[:, :7])[0].T.contiguous()  # 7 orthonormal rows
    s = np.linalg.qr(np.random.default_rng(0).standard_normal((7, 3)))[0]
    whole = torch.from_numpy(s.T.copy()) @ basis
    monkeypatch.setattr(lz, "RITZ_COLUMNS", 8)  # 7 slices, the last of 2
    got = lz.ritz_vectors(basis, s)
    torch.testing.assert_close(got, whole / whole.norm(dim=1, keepdim=True), atol=1e-15, rtol=0)
    torch.testing.assert_close(got.norm(dim=1), torch.ones(3, dtype=torch.float64))
