"""Trace estimation with the top eigenvectors deflated, against exact traces."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from landscape.curvature.deflation import DeflatedOperator, deflated_trace
from landscape.curvature.lanczos import lanczos
from landscape.curvature.trace import hutchinson_trace, hutchpp_trace, xtrace
from landscape.errors import LandscapeError
from landscape.io.curvature import read_stages
from landscape.pipelines import curvature as api
from tests.curvature.cases import dense_matrix, make_case


def outlier_matrix(n: int = 40, seed: int = 0) -> torch.Tensor:
    """Three large outliers over a bulk of small eigenvalues of both signs, as a Hessian has."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    values = torch.cat(
        [
            torch.tensor([50.0, 30.0, 20.0], dtype=torch.float64),
            0.5 * torch.randn(n - 3, generator=gen, dtype=torch.float64),
        ]
    )
    return q @ torch.diag(values) @ q.T


def test_deflated_operator_is_the_projected_matrix() -> None:
    a = outlier_matrix()
    v, _ = torch.linalg.qr(torch.randn(40, 3, generator=torch.Generator().manual_seed(1)).double())
    p = torch.eye(40, dtype=torch.float64) - v @ v.T
    got = DeflatedOperator(a, v) @ torch.eye(40, dtype=torch.float64)
    torch.testing.assert_close(got, p @ a @ p, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize(
    ("estimator", "shrink"),
    [(hutchinson_trace, 0.1), (hutchpp_trace, 0.5), (xtrace, 0.9)],  # XTrace's sketch of 6
)  # already holds the 3 outliers, so deflating them saves it least
def test_deflated_estimates_are_unbiased_and_tighter(estimator, shrink: float) -> None:
    a = outlier_matrix()
    top = lanczos(a, 3, tol=1e-6, seed=0)
    exact = float(a.trace())
    plain, deflated = [], []
    for seed in range(40):
        plain.append(estimator(a, 12, seed=seed))
        deflated.append(
            deflated_trace(
                estimator,
                a,
                12,
                vectors=top.eigenvectors,
                ritz_values=top.eigenvalues,
                seed=seed,
            )
        )
    values = np.array([t.estimate for t in deflated])
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert abs(values.mean() - exact) <= 3 * se
    spread = {
        name: np.std([t.estimate for t in runs], ddof=1)
        for name, runs in (("plain", plain), ("deflated", deflated))
    }
    assert spread["deflated"] < shrink * spread["plain"]
    assert np.mean([t.std_error for t in deflated]) < np.mean([t.std_error for t in plain])
    assert {t.num_matvecs for t in deflated} == {t.num_matvecs for t in plain}
    assert deflated[0].method.endswith(", top-3 deflated")


def test_deflation_bad_shapes() -> None:
    a = outlier_matrix()
    with pytest.raises(LandscapeError, match=r"deflation expected \(k, 40\) vectors and k Ritz"):
        deflated_trace(
            hutchpp_trace, a, 9, vectors=torch.ones(2, 39), ritz_values=np.ones(2), seed=0
        )


@pytest.mark.parametrize("matrix", ["hessian", "ggn"])
def test_api_trace_deflate_is_exact_with_the_counted_products(matrix: str) -> None:
    obj, params = make_case("mlp-ce")
    spectrum = api.hessian(
        api.Setup(obj, params, {}),
        matrix=matrix,  # type: ignore[arg-type]
        top_k=3,
        tol=1e-10,
        trace=True,
        trace_deflate=True,
        trace_hvps=108,  # Hutch++ sketch of 36 = n - 3 columns: the rest exactly
        progress=False,
    )
    c = dense_matrix(matrix, obj, params)
    assert spectrum.trace is not None
    assert spectrum.trace.estimate == pytest.approx(float(c.trace()), rel=1e-9)
    assert spectrum.trace.num_matvecs == 108
    assert spectrum.trace.method == "hutch++, top-3 deflated"


def test_trace_deflate_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    obj, params = make_case("mlp-mse")
    setup = api.Setup(obj, params, {})
    settings = dict(top_k=2, tol=1e-6, trace=True, trace_deflate=True, trace_hvps=12)
    out = tmp_path / "h.h5"
    whole = api.hessian(setup, out=out, progress=False, **settings)
    with h5py.File(out, "r+") as f:  # as if killed after the top stage
        del f["curvature/hessian/trace"]
    resumed = api.hessian(setup, out=out, progress=False, **settings)
    assert resumed.trace == whole.trace
    assert read_stages(out, "hessian")["trace"] == whole.trace
    assert '"trace_deflate": true' in h5py.File(out, "r")["curvature/hessian"].attrs["config"]
    plain = api.hessian(setup, progress=False, **{**settings, "trace_deflate": False})
    assert plain.trace is not None and plain.trace.estimate != whole.trace.estimate
