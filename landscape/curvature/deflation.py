"""Trace estimation after deflating eigenvectors already found (reuse across stages).

For any orthonormal ``V`` (``n × k``) and ``P = I - V Vᵀ``,

    tr(H) = tr(Vᵀ H V) + tr(P H P),

exactly, since ``tr(H) = tr(H V Vᵀ) + tr(H P)`` and ``P² = P``. When ``V``
holds the top Ritz vectors of a Lanczos run on the same ``H``, ``tr(Vᵀ H V)``
is the sum of their Ritz values (a Ritz value is its vector's Rayleigh
quotient and distinct Ritz vectors are ``H``-orthogonal, ``Vᵀ H V = diag(θ)``;
Parlett 1998, Ch. 11), known without a product. A stochastic estimator then
spends its whole budget on ``P H P``, whose largest eigenvalues are gone: the
variance of Hutchinson's estimator, ``2 (||H||_F² - sum_i H_ii²)`` per probe
for Rademacher vectors, loses the outliers' share, and Hutch++'s sketch goes
to the next directions (Meyer et al. 2021 deflate a sketch the same way;
Gambhir, Stathopoulos & Orginos 2017 deflate computed eigenvectors).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from landscape.curvature.linop import Operator
from landscape.curvature.results import TraceEstimate
from landscape.errors import LandscapeError


class DeflatedOperator:
    """``P H P`` with ``P = I - V Vᵀ`` for orthonormal columns ``V``, never formed densely.

    Every product costs one product of ``H`` (same block width), so the inner
    operator's ``num_matvecs`` stays the count of what was spent.

    Args:
        inner: the symmetric operator ``H``.
        basis: ``(n, k)`` orthonormal columns ``V`` (float64).

    >>> H = torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64))
    >>> D = DeflatedOperator(H, torch.tensor([[1.0], [0.0]], dtype=torch.float64))
    >>> (D @ torch.eye(2, dtype=torch.float64)).tolist()
    [[0.0, 0.0], [0.0, 1.0]]
    """

    def __init__(self, inner: Operator, basis: Tensor):
        self.inner = inner
        self.basis = basis.to(device=inner.device, dtype=torch.float64)
        self.shape = tuple(inner.shape)
        self.dtype = inner.dtype
        self.device = inner.device

    def _project(self, v: Tensor) -> Tensor:
        return v - self.basis @ (self.basis.T @ v)

    def __matmul__(self, v: Tensor) -> Tensor:
        """``P H P v`` in ``v``'s dtype (the projections in float64)."""
        pv = self._project(v.to(torch.float64))
        return self._project((self.inner @ pv.to(self.inner.dtype)).to(torch.float64)).to(v.dtype)


def orthonormal_columns(vectors: Tensor) -> Tensor:
    """``(n, k)`` orthonormal columns spanning the rows of ``vectors`` ``(k, n)`` (float64 QR).

    >>> orthonormal_columns(torch.tensor([[2.0, 0.0], [0.0, 3.0]])).abs().tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    q, _ = torch.linalg.qr(vectors.to(torch.float64).T)
    return q


def deflated_trace(
    estimator: Callable[..., TraceEstimate],
    op: Operator,
    num_matvecs: int,
    *,
    vectors: Tensor,
    ritz_values: np.ndarray,
    seed: int = 0,
    directory: str | Path | None = None,
) -> TraceEstimate:
    """``tr(H) = sum θ_i + tr(P H P)``, the second term by ``estimator`` with all the products.

    Args:
        estimator: a trace estimator with the signature of
            :func:`~landscape.curvature.trace.hutchpp_trace` (``op, num_matvecs, seed=, directory=``).
        op: the symmetric operator ``H``.
        num_matvecs: products for the estimator (the deflation itself needs none).
        vectors: ``(k, n)`` Ritz vectors of ``H`` (e.g. a top-k Lanczos result's
            eigenvectors), re-orthonormalized here.
        ritz_values: their ``k`` Ritz values, ``θ_i = v_iᵀ H v_i``.
        seed: the estimator's seed.
        directory: hold the estimator's sketches in memory-mapped files in this
            folder (its ``directory``; ``None``: in memory).

    Returns:
        The estimate, the estimator's standard error (the deflated part is
        exact), the products spent, and the method named ``<method>, top-k deflated``.

    Raises:
        LandscapeError: when the vectors and values do not match or are not of ``H``'s size.

    >>> from landscape.curvature.trace import hutchinson_trace
    >>> A = torch.diag(torch.tensor([100.0, 1.0, 1.0, 1.0], dtype=torch.float64))
    >>> top = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    >>> t = deflated_trace(hutchinson_trace, A, 4, vectors=top, ritz_values=np.array([100.0]))
    >>> t.estimate, t.std_error, t.method   # Rademacher probes: exact on a diagonal rest
    (103.0, 0.0, 'hutchinson, top-1 deflated')
    """
    n = int(op.shape[0])
    if vectors.dim() != 2 or vectors.shape[1] != n or vectors.shape[0] != len(ritz_values):
        raise LandscapeError(
            f"trace: deflation expected (k, {n}) vectors and k Ritz values "
            f"(got {tuple(vectors.shape)} and {len(ritz_values)})"
        )
    k = int(vectors.shape[0])
    rest = estimator(
        DeflatedOperator(op, orthonormal_columns(vectors)),
        num_matvecs,
        seed=seed,
        directory=directory,
    )
    return TraceEstimate(
        float(np.sum(ritz_values)) + rest.estimate,
        rest.std_error,
        rest.num_matvecs,
        f"{rest.method}, top-{k} deflated",
    )
