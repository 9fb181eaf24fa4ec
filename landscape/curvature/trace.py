"""Stochastic trace estimators: Hutchinson, Hutch++ and XTrace, each with a standard error."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

from landscape.curvature.allocation import check_sketch_fits
from landscape.curvature.linop import Operator
from landscape.curvature.results import TraceEstimate
from landscape.errors import LandscapeError

Distribution = Literal["rademacher", "gaussian"]
DISTRIBUTIONS: tuple[str, ...] = get_args(Distribution)


def probes(n: int, m: int, *, seed: int, distribution: Distribution = "rademacher") -> Tensor:
    """``(n, m)`` float64 random vectors with ``E[z zᵀ] = I``, seeded on the CPU.

    >>> probes(3, 2, seed=0).abs().unique().tolist()
    [1.0]
    """
    if distribution not in DISTRIBUTIONS:
        raise LandscapeError(
            f"trace: distribution should be one of {', '.join(DISTRIBUTIONS)} "
            f"(got {distribution!r})"
        )
    gen = torch.Generator().manual_seed(seed)
    if distribution == "gaussian":
        return torch.randn(n, m, generator=gen, dtype=torch.float64)
    return torch.randint(0, 2, (n, m), generator=gen).to(torch.float64) * 2 - 1


def hutchinson_products(
    op: Operator, num_matvecs: int, *, seed: int, distribution: Distribution, what: str
) -> tuple[Tensor, Tensor]:
    """Probes ``Z`` (``n × m``, float64, on the operator's device) and ``H Z`` in float64.

    The shared step of Hutchinson's estimators (of ``tr(H)``, ``||H||_F²``, ``diag(H)``).

    The ``m`` probes, their products and one product of the two are held at
    once (three float64 ``n x m`` blocks, plus the operator's input and output),
    checked against the memory free before the first product.

    Raises:
        LandscapeError: ``{what}: Hutchinson needs at least 2 products ...`` for ``m < 2``
            (no standard error from one sample), or when the sketch cannot fit.

    """
    if num_matvecs < 2:
        raise LandscapeError(
            f"{what}: Hutchinson needs at least 2 products for a standard error (got {num_matvecs})"
        )
    n = int(op.shape[0])
    check_sketch_fits(n, num_matvecs, 3 * num_matvecs, 2 * num_matvecs, op.dtype, op.device, what)
    z = probes(n, num_matvecs, seed=seed, distribution=distribution).to(op.device)
    return z, (op @ z.to(op.dtype)).to(torch.float64)


def hutchinson_trace(
    op: Operator,
    num_matvecs: int = 100,
    *,
    seed: int = 0,
    distribution: Distribution = "rademacher",
) -> TraceEstimate:
    """Hutchinson's estimator ``tr(H) ≈ (1/m) sum_i z_iᵀ H z_i`` (Hutchinson 1989).

    Unbiased for ``E[z zᵀ] = I``; the standard error is the sample standard
    deviation of ``z_iᵀ H z_i`` over ``sqrt(m)``. Rademacher probes give the
    smallest variance, ``2 (||H||_F² - sum_i H_ii²) / m``.

    >>> hutchinson_trace(torch.eye(4, dtype=torch.float64), 8).estimate   # z^T I z = n exactly
    4.0
    """
    z, hz = hutchinson_products(op, num_matvecs, seed=seed, distribution=distribution, what="trace")
    samples = (hz * z).sum(0).cpu().numpy()
    return TraceEstimate(float(samples.mean()), _std_error(samples), num_matvecs, "hutchinson")


def hutchpp_trace(
    op: Operator, num_matvecs: int = 99, *, seed: int = 0, distribution: Distribution = "rademacher"
) -> TraceEstimate:
    """Hutch++ (Meyer, Musco, Musco & Woodruff 2021): low-rank part exact, rest by Hutchinson.

    With ``s = m // 3``: ``Q = orth(H S)`` for ``S`` of ``s`` probes, then
    ``tr(H) ≈ tr(Qᵀ H Q) + (1/g) sum_i z_iᵀ (I - QQᵀ) H (I - QQᵀ) z_i``
    with the remaining ``g = m - 2s`` probes. The error falls like ``1/m``
    instead of ``1/sqrt(m)`` when the spectrum decays, as a Hessian's does.
    The standard error is that of the Hutchinson part (the first term is
    exact given ``Q``). At its peak it holds ``2 s + 3 g`` float64 vectors of
    ``n`` (checked against the memory free before the first product).

    >>> A = torch.diag(torch.tensor([5.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    >>> round(hutchpp_trace(A, 6).estimate, 10)   # rank 2 = s: captured exactly
    6.0
    """
    if num_matvecs < 4:
        raise LandscapeError(f"trace: Hutch++ needs at least 4 products (got {num_matvecs})")
    n = int(op.shape[0])
    s = num_matvecs // 3
    g = num_matvecs - 2 * s
    check_sketch_fits(n, num_matvecs, 2 * s + 3 * g, 2 * max(s, g), op.dtype, op.device, "trace")
    sketch = probes(n, s, seed=seed, distribution=distribution).to(op.device)
    q, _ = torch.linalg.qr((op @ sketch.to(op.dtype)).to(torch.float64))
    low_rank = float(((op @ q.to(op.dtype)).to(torch.float64) * q).sum())
    z = probes(n, g, seed=seed + 1, distribution=distribution).to(op.device)
    z = z - q @ (q.T @ z)
    samples = ((op @ z.to(op.dtype)).to(torch.float64) * z).sum(0).cpu().numpy()
    return TraceEstimate(
        low_rank + float(samples.mean()), _std_error(samples), num_matvecs, "hutch++"
    )


def xtrace(op: Operator, num_matvecs: int = 100, *, seed: int = 0) -> TraceEstimate:
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
    At its peak it holds ``3 s`` float64 vectors of ``n`` (``Ω``, ``Q`` and
    ``H Q``), checked against the memory free before the first product.

    Args:
        op: symmetric operator.
        num_matvecs: products ``m`` (at least 4); ``2 s`` are spent, ``s = min(m // 2, n)``.
        seed: seed of ``Ω``.

    >>> A = torch.diag(torch.tensor([5.0, 1.0] + [0.0] * 8, dtype=torch.float64))
    >>> xtrace(A, 8).estimate   # rank 2 < s = 4: captured exactly
    6.0

    """
    n = int(op.shape[0])
    if num_matvecs < 4:
        raise LandscapeError(f"trace: XTrace needs at least 4 products (got {num_matvecs})")
    s = min(num_matvecs // 2, n)
    check_sketch_fits(n, num_matvecs, 3 * s, 2 * s, op.dtype, op.device, "trace")
    omega = probes(n, s, seed=seed, distribution="gaussian")
    omega = (omega * (n**0.5 / omega.norm(dim=0, keepdim=True))).to(op.device)
    q, r = torch.linalg.qr((op @ omega.to(op.dtype)).to(torch.float64))
    z = (op @ q.to(op.dtype)).to(torch.float64)
    h = q.T @ z
    diag = r.diagonal().abs()
    if float(diag.min()) <= 1e-10 * float(diag.max()):  # rank(H) < s: range(H) ⊆ range(Q)
        return TraceEstimate(float(h.trace()), 0.0, 2 * s, "xtrace")
    w = q.T @ omega
    sv = torch.linalg.inv(r).T
    sv = sv / sv.norm(dim=0, keepdim=True)
    t = z.T @ omega
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
    samples = ests.cpu().numpy()
    return TraceEstimate(float(samples.mean()), _std_error(samples), 2 * s, "xtrace")


def _std_error(samples: np.ndarray) -> float:
    return float(samples.std(ddof=1) / np.sqrt(len(samples))) if len(samples) > 1 else float("nan")
