"""Stochastic estimates of a curvature matrix's diagonal and squared Frobenius norm.

Both need only products ``H z`` with random probes ``E[z zᵀ] = I`` and come
with standard errors from the spread of the per-probe samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from landscape.curvature.linop import Operator
from landscape.curvature.sketch import SLICE_ENTRIES, Distribution, row_dots
from landscape.curvature.trace import (
    hutchinson_products,
    hutchinson_samples,
    mean_and_error,
)


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
    dtype: torch.dtype | None = None,
    directory: str | Path | None = None,
) -> DiagonalEstimate:
    """``diag(H) ≈ (1/m) sum_i z_i ⊙ H z_i`` (Bekas, Kokiopoulou & Saad 2007).

    Unbiased for ``E[z zᵀ] = I``; with Rademacher probes entry ``j`` of a
    sample is ``H_jj + sum_{k != j} H_jk z_j z_k``, of variance
    ``sum_{k != j} H_jk²`` (exact for a diagonal ``H``). The standard error
    of each entry is the sample standard deviation over ``sqrt(m)``. The
    probes are held as in :func:`~landscape.curvature.trace.hutchinson_trace`
    (``dtype``, ``directory``); the samples are folded into a float64 running
    mean and sum of squared deviations a block and a slice at a time (Chan,
    Golub & LeVeque 1983), so they are never all held.

    >>> A = torch.tensor([[2.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    >>> hutchinson_diagonal(A, 4).diagonal.tolist()   # diagonal: exact
    [2.0, 3.0]
    """
    blocks = hutchinson_products(
        op,
        num_matvecs,
        seed=seed,
        distribution=distribution,
        what="diagonal",
        dtype=dtype,
        directory=directory,
    )
    mean = squares = None
    count = 0
    for z, hz in blocks:
        if mean is None or squares is None:
            mean = torch.zeros(z.shape[1], dtype=torch.float64, device=z.device)
            squares = torch.zeros_like(mean)
        b = z.shape[0]
        width = max(1, SLICE_ENTRIES // (2 * b))
        for start in range(0, z.shape[1], width):
            part = slice(start, start + width)
            x = z[:, part].to(torch.float64) * hz[:, part].to(device=z.device, dtype=torch.float64)
            block_mean = x.mean(0)
            delta = block_mean - mean[part]
            squares[part] += ((x - block_mean) ** 2).sum(0) + delta**2 * (count * b / (count + b))
            mean[part] += delta * (b / (count + b))
        count += b
    assert mean is not None and squares is not None  # at least 2 products
    return DiagonalEstimate(
        mean.cpu().numpy(),
        (squares / (count - 1)).sqrt().cpu().numpy() / np.sqrt(num_matvecs),
        num_matvecs,
        "hutchinson",
    )


def hutchinson_frobenius(
    op: Operator,
    num_matvecs: int = 100,
    *,
    seed: int = 0,
    distribution: Distribution = "rademacher",
    dtype: torch.dtype | None = None,
    directory: str | Path | None = None,
) -> FrobeniusEstimate:
    """``||H||_F² = tr(Hᵀ H) ≈ (1/m) sum_i ||H z_i||²`` (Hutchinson's estimator of ``tr(H²)``).

    Unbiased for ``E[z zᵀ] = I``; the standard error is the sample standard
    deviation of ``||H z_i||²`` over ``sqrt(m)``. The probes are held as in
    :func:`~landscape.curvature.trace.hutchinson_trace` (``dtype``, ``directory``).

    >>> Q = torch.tensor([[0.6, 0.8], [-0.8, 0.6]], dtype=torch.float64)
    >>> round(hutchinson_frobenius(3 * Q, 4).estimate, 10)   # ||3 Q z||² = 9 ||z||² = 18
    18.0
    """
    samples = hutchinson_samples(
        op,
        num_matvecs,
        lambda _, hz: row_dots(hz, hz),
        seed=seed,
        distribution=distribution,
        what="frobenius",
        dtype=dtype,
        directory=directory,
    )
    return FrobeniusEstimate(*mean_and_error(samples), num_matvecs, "hutchinson")
