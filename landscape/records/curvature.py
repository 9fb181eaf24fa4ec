"""Records of curvature: eigenpairs, trace, density, sharpness, Taylor models, maps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Eigenpairs:
    """Eigenpairs of the Hessian as stored: values, name-keyed vectors, how they converged.

    Attributes:
        eigenvalues: ``(k,)`` float64, largest first (top end) or smallest first (bottom end).
        eigenvectors: ``k`` unit vectors, each a parameter name -> array dict.
        residuals: ``(k,)`` residual norms ``||H v_i - λ_i v_i||``.
        converged: ``(k,)`` whether each residual met the tolerance.
        num_matvecs: operator applications (Hessian-vector products) spent.
        tol: the relative residual tolerance used.
        error_bounds: ``(k,)`` bounds on ``|θ_i - λ|``, ``min(r_i, r_i² / δ_i)``
            (``None`` in files written before they were stored).

    """

    eigenvalues: np.ndarray
    eigenvectors: tuple[dict[str, np.ndarray], ...]
    residuals: np.ndarray
    converged: np.ndarray
    num_matvecs: int
    tol: float
    error_bounds: np.ndarray | None = None


@dataclass(frozen=True)
class TraceEstimate:
    """A stochastic estimate of ``tr(H)``.

    Attributes:
        estimate: the trace estimate.
        std_error: its standard error (sample standard deviation of the
            stochastic part over the square root of its sample count).
        num_matvecs: operator applications spent.
        method: ``hutchinson`` or ``hutch++``.

    """

    estimate: float
    std_error: float
    num_matvecs: int
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
        num_matvecs: operator applications spent.

    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    num_matvecs: int


@dataclass(frozen=True)
class Spectrum:
    """What ``landscape hessian`` computes and stores (``None`` for stages not asked for)."""

    top: Eigenpairs
    bottom: Eigenpairs | None = None
    trace: TraceEstimate | None = None
    density: SpectralDensity | None = None


@dataclass(frozen=True)
class Sharpness:
    """One sharpness value with how it was measured.

    Attributes:
        measure: its name (``keskar``, ``adaptive_worst``, ...).
        value: the number.
        std_error: Monte-Carlo standard error (NaN for deterministic measures).
        settings: every parameter that shaped the value.
        citation: where the definition comes from.

    """

    measure: str
    value: float
    std_error: float = float("nan")
    settings: dict[str, Any] = field(default_factory=dict)
    citation: str = ""


@dataclass(frozen=True)
class TaylorModel:
    """The quadratic model ``L0 + g·d + ½ dᵀHd`` of the loss on a surface grid.

    Attributes:
        values: the model on the grid (surface shape).
        residual: ``train_loss - values`` (NaN where the surface is missing).
        loss0: ``L(w0)``.
        slopes: ``g·d_i`` per direction.
        curvatures: the matrix ``d_iᵀ H d_j``.

    """

    values: np.ndarray
    residual: np.ndarray
    loss0: float
    slopes: np.ndarray
    curvatures: np.ndarray


@dataclass(frozen=True)
class CurvatureMap:
    """λ_max, λ_min and ``|λ_min/λ_max|`` at each grid point (NaN where not done)."""

    lambda_max: np.ndarray
    lambda_min: np.ndarray
    ratio: np.ndarray
    done: np.ndarray
