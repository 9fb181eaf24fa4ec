"""Frozen result records of the curvature estimators (never bare tuples)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor

from landscape.params import ParamDict, unflatten


@dataclass(frozen=True)
class EigenResult:
    """Eigenpairs of a symmetric operator found by an iterative method.

    Attributes:
        eigenvalues: ``(k,)`` float64, ordered as asked (largest first for the
            top end, smallest first for the bottom end).
        eigenvectors: ``(k, n)`` float64 unit vectors, row ``i`` for eigenvalue ``i``.
        residuals: ``(k,)`` residual norms ``||H v_i - λ_i v_i||``.
        num_hvps: operator applications (Hessian-vector products) spent.
        converged: ``(k,)`` whether ``residuals[i] <= tol * |λ_i|``.
        tol: the relative residual tolerance used.

    """

    eigenvalues: np.ndarray
    eigenvectors: Tensor
    residuals: np.ndarray
    num_hvps: int
    converged: np.ndarray
    tol: float

    def vectors_as_params(self, like: ParamDict) -> list[ParamDict]:
        """Return the eigenvectors as ParamDicts shaped (and typed) like ``like``."""
        ref = next(iter(like.values()))
        return [unflatten(v.to(device=ref.device), like) for v in self.eigenvectors]


@dataclass(frozen=True)
class TraceEstimate:
    """A stochastic estimate of ``tr(H)``.

    Attributes:
        estimate: the trace estimate.
        std_error: its standard error (sample standard deviation of the
            stochastic part over the square root of its sample count).
        num_hvps: operator applications spent.
        method: ``hutchinson`` or ``hutch++``.

    """

    estimate: float
    std_error: float
    num_hvps: int
    method: str


@dataclass(frozen=True)
class SpectralDensity:
    """A smoothed eigenvalue density from stochastic Lanczos quadrature.

    Attributes:
        grid: ``(num_points,)`` eigenvalue axis.
        density: ``(num_points,)`` density on ``grid`` (integrates to 1).
        nodes: ``(num_runs, num_steps)`` Ritz values of each run.
        weights: ``(num_runs, num_steps)`` quadrature weights (each row sums to 1).
        sigma: the Gaussian smoothing width (in eigenvalue units).
        num_hvps: operator applications spent.

    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    num_hvps: int
