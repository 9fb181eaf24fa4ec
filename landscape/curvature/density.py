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

from landscape.curvature.lanczos import lanczos_steps, random_unit
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
    nodes, weights, hvps = [], [], 0
    for r in range(num_runs):
        state = lanczos_steps(
            op, num_steps, v0=random_unit(n, seed=seed + r, device=op.device), seed=seed + r
        )
        theta, s = state.ritz()
        nodes.append(theta)
        weights.append(s[0] ** 2)
        hvps += state.num_matvecs
    node_arr, weight_arr = np.stack(nodes), np.stack(weights)
    lo, hi = float(node_arr.min()), float(node_arr.max())
    width = sigma * max(hi - lo, 1e-12 * max(abs(lo), abs(hi), 1.0))
    grid = np.linspace(lo - 5 * width, hi + 5 * width, num_points)
    density = gaussian_mixture(grid, node_arr, weight_arr, width) / num_runs
    return SpectralDensity(grid, density, node_arr, weight_arr, width, hvps)


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
