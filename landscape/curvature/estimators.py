"""Stochastic estimates of a curvature matrix's diagonal and squared Frobenius norm.

Both need only products ``H z`` with random probes ``E[z zᵀ] = I`` and come
with standard errors from the spread of the per-probe samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape.curvature.linop import Operator
from landscape.curvature.trace import Distribution, hutchinson_products


@dataclass(frozen=True)
class DiagonalEstimate:
    """A stochastic estimate of ``diag(H)``.

    Attributes:
        diagonal: ``(n,)`` the estimate, flattened in parameter-name order.
        std_error: ``(n,)`` its standard error, entry by entry.
        num_matvecs: operator applications spent.
        method: ``hutchinson``.

    """

    diagonal: np.ndarray
    std_error: np.ndarray
    num_matvecs: int
    method: str


@dataclass(frozen=True)
class FrobeniusEstimate:
    """A stochastic estimate of ``||H||_F² = tr(Hᵀ H)``.

    Attributes:
        estimate: the estimate.
        std_error: its standard error.
        num_matvecs: operator applications spent.
        method: ``hutchinson``.

    """

    estimate: float
    std_error: float
    num_matvecs: int
    method: str


def hutchinson_diagonal(
    op: Operator,
    num_matvecs: int = 100,
    *,
    seed: int = 0,
    distribution: Distribution = "rademacher",
) -> DiagonalEstimate:
    """``diag(H) ≈ (1/m) sum_i z_i ⊙ H z_i`` (Bekas, Kokiopoulou & Saad 2007).

    Unbiased for ``E[z zᵀ] = I``; with Rademacher probes entry ``j`` of a
    sample is ``H_jj + sum_{k != j} H_jk z_j z_k``, of variance
    ``sum_{k != j} H_jk²`` (exact for a diagonal ``H``). The standard error
    of each entry is the sample standard deviation over ``sqrt(m)``.

    >>> import torch
    >>> A = torch.tensor([[2.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    >>> hutchinson_diagonal(A, 4).diagonal.tolist()   # diagonal: exact
    [2.0, 3.0]
    """
    z, hz = hutchinson_products(
        op, num_matvecs, seed=seed, distribution=distribution, what="diagonal"
    )
    samples = (hz * z).cpu().numpy()  # (n, m)
    return DiagonalEstimate(
        samples.mean(1), samples.std(1, ddof=1) / np.sqrt(num_matvecs), num_matvecs, "hutchinson"
    )


def hutchinson_frobenius(
    op: Operator,
    num_matvecs: int = 100,
    *,
    seed: int = 0,
    distribution: Distribution = "rademacher",
) -> FrobeniusEstimate:
    """``||H||_F² = tr(Hᵀ H) ≈ (1/m) sum_i ||H z_i||²`` (Hutchinson's estimator of ``tr(H²)``).

    Unbiased for ``E[z zᵀ] = I``; the standard error is the sample standard
    deviation of ``||H z_i||²`` over ``sqrt(m)``.

    >>> import torch
    >>> Q = torch.tensor([[0.6, 0.8], [-0.8, 0.6]], dtype=torch.float64)
    >>> round(hutchinson_frobenius(3 * Q, 4).estimate, 10)   # ||3 Q z||² = 9 ||z||² = 18
    18.0
    """
    _, hz = hutchinson_products(
        op, num_matvecs, seed=seed, distribution=distribution, what="frobenius"
    )
    samples = (hz**2).sum(0).cpu().numpy()
    return FrobeniusEstimate(
        float(samples.mean()),
        float(samples.std(ddof=1) / np.sqrt(num_matvecs)),
        num_matvecs,
        "hutchinson",
    )
