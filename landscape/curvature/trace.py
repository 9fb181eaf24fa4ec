"""Stochastic trace estimators: Hutchinson, Hutch++ and XTrace, each with a standard error.

Their probes, sketches and bases are rows of preallocated stores in the
sketch dtype (the operator's unless ``dtype=torch.float64``), in memory or,
with ``directory``, memory-mapped there (see :mod:`landscape.curvature.sketch`);
what they need is checked before the first product.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from landscape.curvature.allocation import allocate_rows, check_sketch_fits, itemsize
from landscape.curvature.lanczos import basis_dtype
from landscape.curvature.linop import Operator
from landscape.curvature.results import TraceEstimate
from landscape.curvature.sketch import (
    Distribution,
    block_rows,
    gram,
    orthonormalize_rows,
    probe_rows,
    row_dots,
    row_products,
)
from landscape.errors import LandscapeError

WORK_ROWS = 2
"""Vectors in the operator's dtype per row of a product block (its input and output)."""


def probes(n: int, m: int, *, seed: int, distribution: Distribution = "rademacher") -> Tensor:
    """``(n, m)`` float64 random vectors with ``E[z zᵀ] = I``, seeded on the CPU.

    The columns are the rows every estimator draws (:func:`~landscape.curvature.sketch.probe_rows`).

    >>> probes(3, 2, seed=0).abs().unique().tolist()
    [1.0]
    """
    return probe_rows(
        n, m, seed=seed, distribution=distribution, dtype=torch.float64, device="cpu"
    )[0].T


def check_fits(
    op: Operator,
    products: int,
    *,
    rows: int,
    block: int,
    dtype: torch.dtype,
    directory: str | Path | None,
    what: str,
) -> None:
    """Refuse ``rows`` vectors in ``dtype`` and products of ``block`` rows that cannot fit.

    A product block holds at most :func:`~landscape.curvature.sketch.block_rows`
    of the ``block`` rows, :data:`WORK_ROWS` vectors each in the operator's dtype.

    Raises:
        LandscapeError: naming the need, what is free, the most products that
            fit and ``--basis-on-disk DIR`` (see
            :func:`~landscape.curvature.allocation.check_sketch_fits`).

    """
    n = int(op.shape[0])
    block = min(block, block_rows(n, op.dtype))
    check_sketch_fits(
        n,
        products,
        sketch_bytes=rows * n * itemsize(dtype),
        work_bytes=WORK_ROWS * block * n * itemsize(op.dtype),
        device=op.device,
        directory=directory,
        what=what,
    )


def hutchinson_products(
    op: Operator,
    num_matvecs: int,
    *,
    seed: int,
    distribution: Distribution,
    what: str,
    dtype: torch.dtype | None = None,
    directory: str | Path | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Blocks of probes ``z`` (rows, sketch dtype) and their products ``H z`` (rows, op dtype).

    The shared step of Hutchinson's estimators (of ``tr(H)``, ``||H||_F²``,
    ``diag(H)``). The ``m`` probes are one ``(m, n)`` store (in memory, or in
    ``directory``), checked with one product block before the first product.

    Raises:
        LandscapeError: ``{what}: Hutchinson needs at least 2 products ...`` for ``m < 2``
            (no standard error from one sample), or when the sketch cannot fit.

    """
    if num_matvecs < 2:
        raise LandscapeError(
            f"{what}: Hutchinson needs at least 2 products for a standard error (got {num_matvecs})"
        )
    n, kind = int(op.shape[0]), basis_dtype(op, dtype)
    check_fits(
        op,
        num_matvecs,
        rows=num_matvecs,
        block=num_matvecs,
        dtype=kind,
        directory=directory,
        what=what,
    )
    z, _ = probe_rows(
        n,
        num_matvecs,
        seed=seed,
        distribution=distribution,
        dtype=kind,
        device=op.device,
        directory=directory,
    )
    for part, hz in row_products(op, z):
        yield z[part], hz


def hutchinson_samples(
    op: Operator,
    num_matvecs: int,
    sample: Callable[[Tensor, Tensor], Tensor],
    *,
    seed: int,
    distribution: Distribution,
    what: str,
    dtype: torch.dtype | None = None,
    directory: str | Path | None = None,
) -> np.ndarray:
    """The ``m`` float64 per-probe scalars ``sample(z, H z)`` of :func:`hutchinson_products`.

    ``sample`` maps a block of probe rows and their products to one float64
    value per row (``z_iᵀ H z_i`` for ``tr(H)``, ``||H z_i||²`` for ``||H||_F²``).

    Raises:
        LandscapeError: as :func:`hutchinson_products`.

    """
    blocks = hutchinson_products(
        op,
        num_matvecs,
        seed=seed,
        distribution=distribution,
        what=what,
        dtype=dtype,
        directory=directory,
    )
    return torch.cat([sample(z, hz) for z, hz in blocks]).cpu().numpy()


def mean_and_error(samples: np.ndarray) -> tuple[float, float]:
    """The mean of per-probe ``samples`` and its standard error ``std(ddof=1) / sqrt(m)``.

    The standard error is NaN for a single sample.

    >>> mean_and_error(np.array([1.0, 3.0]))
    (2.0, 1.0)
    """
    error = samples.std(ddof=1) / np.sqrt(len(samples)) if len(samples) > 1 else float("nan")
    return float(samples.mean()), float(error)


def hutchinson_trace(
    op: Operator,
    num_matvecs: int = 100,
    *,
    seed: int = 0,
    distribution: Distribution = "rademacher",
    dtype: torch.dtype | None = None,
    directory: str | Path | None = None,
) -> TraceEstimate:
    """Hutchinson's estimator ``tr(H) ≈ (1/m) sum_i z_iᵀ H z_i`` (Hutchinson 1989).

    Unbiased for ``E[z zᵀ] = I``; the standard error is the sample standard
    deviation of ``z_iᵀ H z_i`` over ``sqrt(m)``. Rademacher probes give the
    smallest variance, ``2 (||H||_F² - sum_i H_ii²) / m``. It holds ``m``
    probes in the sketch dtype (``dtype``, default the operator's; see
    :func:`~landscape.curvature.lanczos.basis_dtype`), in memory or in a
    memory-mapped file in ``directory``, and one block of products.

    >>> hutchinson_trace(torch.eye(4, dtype=torch.float64), 8).estimate   # z^T I z = n exactly
    4.0
    """
    samples = hutchinson_samples(
        op,
        num_matvecs,
        row_dots,
        seed=seed,
        distribution=distribution,
        what="trace",
        dtype=dtype,
        directory=directory,
    )
    return TraceEstimate(*mean_and_error(samples), num_matvecs, "hutchinson")


def hutchpp_trace(
    op: Operator,
    num_matvecs: int = 99,
    *,
    seed: int = 0,
    distribution: Distribution = "rademacher",
    dtype: torch.dtype | None = None,
    directory: str | Path | None = None,
) -> TraceEstimate:
    """Hutch++ (Meyer, Musco, Musco & Woodruff 2021): low-rank part exact, rest by Hutchinson.

    With ``s = m // 3``: ``Q = orth(H S)`` for ``S`` of ``s`` probes, then
    ``tr(H) ≈ tr(Qᵀ H Q) + (1/g) sum_i z_iᵀ (I - QQᵀ) H (I - QQᵀ) z_i``
    with the remaining ``g = m - 2s`` probes. The error falls like ``1/m``
    instead of ``1/sqrt(m)`` when the spectrum decays, as a Hessian's does.
    The standard error is that of the Hutchinson part (the first term is
    exact given ``Q``). It holds ``s + g`` vectors of ``n`` in the sketch
    dtype (``H S`` is written over ``S`` and orthonormalized in place), in
    memory or in a memory-mapped file in ``directory``, and one block of
    products; checked before the first product.

    >>> A = torch.diag(torch.tensor([5.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    >>> round(hutchpp_trace(A, 6, distribution="gaussian").estimate, 10)   # H S spans range(H)
    6.0
    """
    if num_matvecs < 4:
        raise LandscapeError(f"trace: Hutch++ needs at least 4 products (got {num_matvecs})")
    n, kind = int(op.shape[0]), basis_dtype(op, dtype)
    s = num_matvecs // 3
    g = num_matvecs - 2 * s
    check_fits(
        op,
        num_matvecs,
        rows=s + g,
        block=max(s, g),
        dtype=kind,
        directory=directory,
        what="trace",
    )
    place = {"dtype": kind, "device": op.device, "directory": directory}
    q, _ = probe_rows(n, s, seed=seed, distribution=distribution, **place)
    for part, hs in row_products(op, q):
        q[part] = hs
    orthonormalize_rows(q)
    low_rank = sum(float(row_dots(q[part], hq).sum()) for part, hq in row_products(op, q))
    z, _ = probe_rows(n, g, seed=seed + 1, distribution=distribution, **place)
    z.addmm_(gram(z, q).to(kind), q, alpha=-1)  # z - Q Qᵀ z, in place
    samples = torch.cat([row_dots(z[part], hz) for part, hz in row_products(op, z)])
    mean, error = mean_and_error(samples.cpu().numpy())
    return TraceEstimate(low_rank + mean, error, num_matvecs, "hutch++")


def xtrace(
    op: Operator,
    num_matvecs: int = 100,
    *,
    seed: int = 0,
    dtype: torch.dtype | None = None,
    directory: str | Path | None = None,
) -> TraceEstimate:
    """XTrace (Epperly, Tropp & Webber 2024): Hutch++ made exchangeable, every sample used twice.

    With ``s = m // 2`` test vectors ``Ω`` drawn uniformly on the sphere of
    radius ``sqrt(n)``, ``Y = H Ω = Q R``. Leaving test vector ``i`` out gives
    the projector ``P_i = Q (I - ŝ_i ŝ_iᵀ) Qᵀ`` onto the span of the other
    columns of ``Y`` (``ŝ_i``: the unit ``i``-th column of ``R^{-T}``), and the
    Hutch++-like estimate

        t_i = tr(P_i H) + c_i ω_iᵀ (I - P_i) H (I - P_i) ω_i,
        c_i = (n - s + 1) / ||(I - P_i) ω_i||²,

    each one unbiased (``c_i`` makes the projected vector uniform on the sphere
    of its ``n - s + 1``-dimensional complement: the paper's improved
    normalization); XTrace is their mean, from the ``2 s`` products ``H Ω``
    and ``H Q`` only (the closed forms of the paper's code). The standard error is that
    of the ``t_i`` (``std / sqrt(s)``), the paper's error estimate; the ``t_i``
    are exchangeable, not independent. When ``H`` has rank below ``s`` the
    sketch captures its range and ``tr(Qᵀ H Q)`` is exact (standard error 0).
    It holds ``2 s`` vectors of ``n`` in the sketch dtype (``Ω`` and ``Q``,
    formed in place from ``H Ω``; each block of ``H Q`` is reduced to its rows of
    ``Qᵀ H Q`` and ``(H Q)ᵀ Ω`` at once), in memory or in a memory-mapped file
    in ``directory``, and one block of products; checked before the first product.

    Args:
        op: symmetric operator.
        num_matvecs: products ``m`` (at least 4); ``2 s`` are spent, ``s = min(m // 2, n)``.
        seed: seed of ``Ω``.
        dtype: the sketch dtype (default the operator's, see
            :func:`~landscape.curvature.lanczos.basis_dtype`).
        directory: hold the sketch in memory-mapped files in this folder.

    >>> A = torch.diag(torch.tensor([5.0, 1.0] + [0.0] * 8, dtype=torch.float64))
    >>> xtrace(A, 8).estimate   # rank 2 < s = 4: captured exactly
    6.0

    """
    n = int(op.shape[0])
    if num_matvecs < 4:
        raise LandscapeError(f"trace: XTrace needs at least 4 products (got {num_matvecs})")
    s = min(num_matvecs // 2, n)
    kind = basis_dtype(op, dtype)
    check_fits(op, num_matvecs, rows=2 * s, block=s, dtype=kind, directory=directory, what="trace")
    place = {"dtype": kind, "device": op.device, "directory": directory}
    omega, squares = probe_rows(n, s, seed=seed, distribution="gaussian", **place)
    omega.mul_((n**0.5 / squares.sqrt()).to(device=omega.device, dtype=kind)[:, None])
    q = allocate_rows(s, n, kind, op.device, directory)
    for part, y in row_products(op, omega):
        q[part] = y
    r = orthonormalize_rows(q)
    h = torch.empty(s, s, dtype=torch.float64, device=q.device)
    t = torch.empty(s, s, dtype=torch.float64, device=q.device)
    for part, z in row_products(op, q):
        h[:, part] = gram(q, z)
        t[part] = gram(z, omega)
    diag = r.diagonal().abs()
    if float(diag.min()) <= 1e-10 * float(diag.max()):  # rank(H) < s: range(H) ⊆ range(Q)
        return TraceEstimate(float(h.trace()), 0.0, 2 * s, "xtrace")
    w = gram(q, omega)
    sv = torch.linalg.inv(r).T
    sv = sv / sv.norm(dim=0, keepdim=True)
    hw = h @ w
    d_sw = (sv * w).sum(0)
    d_shs = (sv * (h @ sv)).sum(0)
    d_tw = (t * w).sum(0)
    d_whw = (w * hw).sum(0)
    d_s_rmhw = (sv * (r - hw)).sum(0)
    d_tmhw_s = ((t - h.T @ w) * sv).sum(0)
    scale = (n - s + 1) / (n - (w**2).sum(0) + d_sw**2)
    residual = d_whw - d_tw + d_tmhw_s * d_sw + d_sw**2 * d_shs + d_sw * d_s_rmhw
    ests = h.trace() - d_shs + residual * scale
    return TraceEstimate(*mean_and_error(ests.cpu().numpy()), 2 * s, "xtrace")
