"""Spectral density of the Hessian by stochastic Lanczos quadrature (SLQ).

Each run starts Lanczos from a random unit vector ``v``; the ``m``-step
tridiagonal ``T = S Θ Sᵀ`` gives the Gauss quadrature rule with nodes ``θ_j``
and weights ``τ_j = s_{0j}²`` for the measure ``vᵀ δ(t - H) v``, whose
expectation over ``v`` is the eigenvalue density ``(1/n) sum_i δ(t - λ_i)``
(Golub & Meurant 1994; Lin, Saad & Yang 2016; Ghorbani, Krishnan & Xiao 2019).
Averaging runs and replacing each node by a Gaussian of width ``σ`` gives

    φ_σ(t) = (1/R) sum_r sum_j τ_{rj} N(t; θ_{rj}, σ²),

which integrates to 1 because every run's weights sum to 1.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

from landscape.curvature.lanczos import basis_dtype, check_basis_fits, lanczos_steps, random_unit
from landscape.curvature.linop import Operator
from landscape.curvature.results import SpectralDensity
from landscape.errors import LandscapeError


def slq_density(
    op: Operator,
    *,
    num_runs: int = 10,
    num_steps: int = 80,
    num_points: int = 1000,
    sigma: float = 0.01,
    seed: int = 0,
    together: bool = False,
) -> SpectralDensity:
    """Smoothed eigenvalue density of a symmetric operator.

    Args:
        op: symmetric operator.
        num_runs: independent random start vectors ``R``.
        num_steps: Lanczos steps per run ``m`` (capped at ``n``).
        num_points: points of the output grid.
        sigma: Gaussian width as a fraction of the Ritz-value range
            ``max θ - min θ``; the grid extends ``5 σ`` beyond both ends.
        seed: run ``r`` starts from the vector of seed ``seed + r``.
        together: step all runs at once, one block product of ``R`` vectors
            per step (:func:`parallel_lanczos`; vmapped in the curvature
            operators) instead of ``R`` runs of single products one after
            the other. Same nodes and weights to rounding, ``R`` times the
            Krylov memory.

    Returns:
        :class:`SpectralDensity`; ``num_matvecs = R m``.

    >>> import torch
    >>> A = torch.diag(torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64))
    >>> d = slq_density(A, num_runs=4, num_steps=4)
    >>> round(float(np.trapezoid(d.density, d.grid)), 6)
    1.0

    """
    if num_runs < 1 or num_steps < 1 or num_points < 2:
        raise LandscapeError(
            "density: expected num_runs >= 1, num_steps >= 1, num_points >= 2 "
            f"(got {num_runs}, {num_steps}, {num_points})"
        )
    if not sigma > 0:
        raise LandscapeError(f"density: sigma should be positive (got {sigma})")
    n = int(op.shape[0])
    if together:
        tridiagonals, hvps = parallel_lanczos(op, num_steps, seeds=range(seed, seed + num_runs))
    else:
        tridiagonals, hvps = [], 0
        for r in range(num_runs):
            state = lanczos_steps(
                op, num_steps, v0=random_unit(n, seed=seed + r, device=op.device), seed=seed + r
            )
            tridiagonals.append((np.array(state.alpha), np.array(state.beta[:-1])))
            hvps += state.num_matvecs
    nodes, weights = [], []
    for alpha, beta in tridiagonals:
        theta, s = eigh_tridiagonal(alpha, beta)
        nodes.append(theta)
        weights.append(s[0] ** 2)
    node_arr, weight_arr = np.stack(nodes), np.stack(weights)
    lo, hi = float(node_arr.min()), float(node_arr.max())
    width = sigma * max(hi - lo, 1e-12 * max(abs(lo), abs(hi), 1.0))
    grid = np.linspace(lo - 5 * width, hi + 5 * width, num_points)
    density = gaussian_mixture(grid, node_arr, weight_arr, width) / num_runs
    return SpectralDensity(grid, density, node_arr, weight_arr, width, hvps)


def parallel_lanczos(
    op: Operator, num_steps: int, *, seeds: range
) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """Independent Lanczos runs stepped together: one block product per step for all of them.

    Run ``r`` is the recurrence of :func:`~landscape.curvature.lanczos.lanczos_steps`
    from the unit vector of seed ``seeds[r]``, with full reorthogonalization
    against its own basis (two classical Gram-Schmidt passes) and the same
    restart after a breakdown; only the products are shared, ``H [q_1 .. q_R]``.

    Returns:
        Each run's tridiagonal ``(alpha, beta)`` and the products spent (``R m``).

    >>> import torch
    >>> A = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    >>> runs, count = parallel_lanczos(A, 3, seeds=range(2))
    >>> [np.round(eigh_tridiagonal(*t)[0], 10).tolist() for t in runs], count
    ([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], 6)
    """
    n = int(op.shape[0])
    steps = min(num_steps, n)
    kind = basis_dtype(op)
    runs = len(seeds)
    check_basis_fits(n, runs * (steps + 1), kind, op.device)
    basis = torch.empty((runs, steps + 1, n), dtype=kind, device=op.device)
    basis[:, 0] = torch.stack([random_unit(n, seed=s, device=op.device) for s in seeds])
    alpha, beta = np.zeros((runs, steps)), np.zeros((runs, steps))
    scale = np.zeros(runs)
    for j in range(steps):
        q = basis[:, j].to(torch.float64)
        w = (op @ q.T.to(op.dtype)).T.to(torch.float64)
        a = (q * w).sum(1)
        w = w - a[:, None] * q
        if j > 0:
            w = w - torch.from_numpy(beta[:, j - 1]).to(w)[:, None] * basis[:, j - 1].to(w)
        done = basis[:, : j + 1]
        for _ in range(2):
            w = w - torch.einsum(
                "rjn,rj->rn", done, torch.einsum("rjn,rn->rj", done, w.to(kind))
            ).to(w)
        b = w.norm(dim=1).cpu().numpy()
        alpha[:, j] = a.cpu().numpy()
        scale = np.maximum(scale, np.abs(alpha[:, j]) + b + (beta[:, j - 1] if j else 0.0))
        if j + 1 == steps:
            break
        for r in np.flatnonzero(b <= 1e-10 * np.maximum(scale, 1e-300)):  # breakdown: restart
            b[r] = 0.0
            fresh = random_unit(n, seed=seeds[r] + 7919 * (j + 1), device=op.device)
            for _ in range(2):
                fresh = fresh - (done[r].T @ (done[r] @ fresh.to(kind))).to(fresh)
            w[r] = fresh
        beta[:, j] = b
        basis[:, j + 1] = (w / w.norm(dim=1, keepdim=True)).to(kind)
    return [(alpha[r], beta[r, : steps - 1]) for r in range(runs)], runs * steps


def gaussian_mixture(
    grid: np.ndarray, nodes: np.ndarray, weights: np.ndarray, sigma: float
) -> np.ndarray:
    """``sum_j w_j N(t; θ_j, σ²)`` on ``grid``.

    >>> gaussian_mixture(np.array([0.0]), np.array([0.0]), np.array([1.0]), 1.0).round(6).tolist()
    [0.398942]
    """
    t, w = nodes.ravel(), weights.ravel()
    z = (grid[:, None] - t[None, :]) / sigma
    return (np.exp(-0.5 * z**2) * w[None, :]).sum(1) / (sigma * np.sqrt(2 * np.pi))
