"""The row stores of the trace sketches: draws, products, inner products and the in-place QR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.curvature import sketch, trace
from landscape.curvature.estimators import hutchinson_diagonal, hutchinson_frobenius
from landscape.curvature.sketch import (
    gram,
    orthonormalize_rows,
    probe_rows,
    row_dots,
    row_products,
)
from landscape.curvature.trace import hutchinson_trace, hutchpp_trace, xtrace
from landscape.errors import LandscapeError


def decaying(n: int, seed: int) -> torch.Tensor:
    """A symmetric matrix with eigenvalues 1/i (a Hessian-like decay)."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return q @ torch.diag(1.0 / torch.arange(1, n + 1, dtype=torch.float64)) @ q.T


class Counting:
    """A dense float64 operator that records the columns of every product."""

    def __init__(self, mat: torch.Tensor) -> None:
        self.mat, self.shape, self.dtype, self.device = mat, mat.shape, mat.dtype, mat.device
        self.columns: list[int] = []

    def __matmul__(self, v: torch.Tensor) -> torch.Tensor:
        self.columns.append(v.shape[1])
        return self.mat @ v


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
@pytest.mark.parametrize(("n", "m"), [(1, 1), (5, 3), (17, 1), (999, 7), (1000, 33)])
def test_probes_drawn_a_slice_at_a_time_equal_one_draw(
    monkeypatch, distribution: str, n: int, m: int
) -> None:
    gen = torch.Generator().manual_seed(5)
    if distribution == "gaussian":
        whole = torch.randn(n, m, generator=gen, dtype=torch.float64)
    else:
        whole = torch.randint(0, 2, (n, m), generator=gen).to(torch.float64) * 2 - 1
    for entries in (64, 256, 2**22):  # many slices, a few, one
        monkeypatch.setattr(sketch, "SLICE_ENTRIES", entries)
        rows, squares = probe_rows(
            n, m, seed=5, distribution=distribution, dtype=torch.float64, device="cpu"
        )
        assert torch.equal(rows, whole.T)
        torch.testing.assert_close(squares, (whole**2).sum(0), rtol=1e-14, atol=0)
    rows32, _ = probe_rows(
        n, m, seed=5, distribution=distribution, dtype=torch.float32, device="cpu"
    )
    assert rows32.dtype == torch.float32 and torch.equal(rows32, whole.T.float())


def test_a_bad_distribution_is_refused() -> None:
    with pytest.raises(LandscapeError, match="distribution should be one of rademacher, gaussian"):
        probe_rows(4, 2, seed=0, distribution="uniform", dtype=torch.float64, device="cpu")


def test_gram_and_row_dots_by_slices_equal_the_products(monkeypatch) -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(3, 101, generator=gen)
    b = torch.randn(4, 101, generator=gen)
    monkeypatch.setattr(sketch, "SLICE_ENTRIES", 50)  # slices of 7 (gram) and 8 (row_dots)
    torch.testing.assert_close(gram(a, b), a.double() @ b.double().T, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(row_dots(a, b[:3]), (a.double() * b[:3].double()).sum(1))
    assert gram(a, b).dtype == torch.float64


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_rows_orthonormalized_in_place_are_a_qr_factorization(dtype) -> None:
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(6, 40, generator=gen, dtype=torch.float64) * torch.logspace(0, -4, 6)[:, None]
    rows = y.to(dtype, copy=True)
    r = orthonormalize_rows(rows)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    q = rows.double()
    torch.testing.assert_close(q @ q.T, torch.eye(6, dtype=torch.float64), atol=tol, rtol=0)
    assert torch.equal(r, r.triu())
    torch.testing.assert_close(r.T @ q, y, atol=tol * float(y.abs().max()), rtol=0)
    q_ref, r_ref = torch.linalg.qr(y.T)  # the same factors up to the signs of the columns
    torch.testing.assert_close(r.diagonal(), r_ref.diagonal().abs(), rtol=tol * 1e4, atol=0)
    torch.testing.assert_close(
        (q_ref.T @ q.T).abs(), torch.eye(6, dtype=torch.float64), atol=tol * 1e4, rtol=0
    )


def test_a_row_in_the_span_of_the_rows_before_becomes_zero() -> None:
    # rows 0-2 live in the first two coordinates (as H S does for a rank-2 H): row 2's
    # residual after the first pass is round-off there, which the second pass removes
    gen = torch.Generator().manual_seed(2)
    y = torch.randn(4, 30, generator=gen, dtype=torch.float64)
    y[:3, 2:] = 0.0
    r = orthonormalize_rows(y)
    assert r[2, 2] == 0.0 and torch.equal(y[2], torch.zeros(30, dtype=torch.float64))
    kept = y[[0, 1, 3]]
    torch.testing.assert_close(kept @ kept.T, torch.eye(3, dtype=torch.float64), atol=1e-13, rtol=0)
    p = y.T @ y
    torch.testing.assert_close(p @ p, p, atol=1e-13, rtol=0)  # Q Qᵀ: still a projector


def test_products_go_in_blocks_of_at_most_block_bytes(monkeypatch) -> None:
    mat = decaying(50, 0)
    op = Counting(mat)
    rows = torch.randn(7, 50, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    monkeypatch.setattr(sketch, "BLOCK_BYTES", 3 * 50 * 8)  # 3 rows of float64
    parts = list(row_products(op, rows))
    assert op.columns == [3, 3, 1] and [p.start for p, _ in parts] == [0, 3, 6]
    out = torch.cat([hy for _, hy in parts])
    torch.testing.assert_close(out, rows @ mat, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(
    ("estimator", "rows"),
    [(hutchinson_trace, [12]), (hutchpp_trace, [4, 4]), (xtrace, [6, 6])],
)
def test_sketches_are_rows_in_the_operators_dtype_unless_float64_is_asked(
    monkeypatch, estimator, rows: list[int]
) -> None:
    made: list[tuple[int, torch.dtype]] = []

    def recording(m: int, n: int, dtype: torch.dtype, *args: object) -> torch.Tensor:
        made.append((m, dtype))
        return torch.empty((m, n), dtype=dtype)

    monkeypatch.setattr(sketch, "allocate_rows", recording)
    monkeypatch.setattr(trace, "allocate_rows", recording)
    op = decaying(40, 1).float()
    estimator(op, 12)
    assert made == [(m, torch.float32) for m in rows]
    made.clear()
    estimator(op, 12, dtype=torch.float64)
    assert made == [(m, torch.float64) for m in rows]


ESTIMATORS = {
    "hutchinson": lambda op, **kw: hutchinson_trace(op, 30, seed=4, **kw),
    "hutch++": lambda op, **kw: hutchpp_trace(op, 30, seed=4, **kw),
    "xtrace": lambda op, **kw: xtrace(op, 30, seed=4, **kw),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_float32_sketches_are_within_a_thousandth_of_the_estimators_own_error(name: str) -> None:
    # The float32 rows perturb the estimate by about float32 round-off of tr(H),
    # ~1e-7 relative here; the estimator's standard error is ~1e-2 relative.
    for seed in range(3):
        mat = decaying(200, seed)
        est = ESTIMATORS[name]
        wide, narrow = est(mat.float(), dtype=torch.float64), est(mat.float())
        assert wide.std_error > 0
        assert abs(narrow.estimate - wide.estimate) <= 1e-3 * wide.std_error
        assert narrow.std_error == pytest.approx(wide.std_error, rel=1e-3)


def test_float32_diagonal_and_frobenius_within_a_thousandth_of_their_error() -> None:
    mat = decaying(120, 3).float()
    wide = hutchinson_diagonal(mat, 20, seed=1, dtype=torch.float64)
    narrow = hutchinson_diagonal(mat, 20, seed=1)
    assert np.all(np.abs(narrow.diagonal - wide.diagonal) <= 1e-3 * wide.std_error)
    wide_f = hutchinson_frobenius(mat, 20, seed=1, dtype=torch.float64)
    narrow_f = hutchinson_frobenius(mat, 20, seed=1)
    assert abs(narrow_f.estimate - wide_f.estimate) <= 1e-3 * wide_f.std_error


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sketches_on_disk_give_the_in_memory_results_exactly(tmp_path: Path, dtype) -> None:
    op = decaying(90, 5).to(dtype)
    for name, est in ESTIMATORS.items():
        ram, disk = est(op), est(op, directory=tmp_path)
        assert (disk.estimate, disk.std_error) == (ram.estimate, ram.std_error), name
    ram_d, disk_d = hutchinson_diagonal(op, 8), hutchinson_diagonal(op, 8, directory=tmp_path)
    np.testing.assert_array_equal(disk_d.diagonal, ram_d.diagonal)
    np.testing.assert_array_equal(disk_d.std_error, ram_d.std_error)
    ram_f, disk_f = hutchinson_frobenius(op, 8), hutchinson_frobenius(op, 8, directory=tmp_path)
    assert disk_f.estimate == ram_f.estimate
    assert list(tmp_path.iterdir()) == []


def test_the_diagonal_folded_a_block_and_slice_at_a_time_equals_all_samples(monkeypatch) -> None:
    mat = decaying(70, 6)
    gen = torch.Generator().manual_seed(2)
    z = torch.randint(0, 2, (70, 9), generator=gen).to(torch.float64) * 2 - 1
    samples = (z * (mat @ z)).numpy()
    monkeypatch.setattr(sketch, "BLOCK_BYTES", 4 * 70 * 8)  # blocks of 4, 4, 1 probes
    monkeypatch.setattr(sketch, "SLICE_ENTRIES", 40)  # slices of 5 entries
    est = hutchinson_diagonal(mat, 9, seed=2)
    np.testing.assert_allclose(est.diagonal, samples.mean(1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(est.std_error, samples.std(1, ddof=1) / 3.0, rtol=1e-10, atol=1e-14)
