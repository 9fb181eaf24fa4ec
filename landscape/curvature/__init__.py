"""Curvature of the loss: Hessian-vector products, spectra, traces, densities, sharpness.

Everything is matrix-free: :class:`HessianLinearOperator` gives ``H @ v`` of a
full-data (or fixed-subset) loss; :func:`lanczos` finds extreme eigenpairs,
:func:`hutchpp_trace` the trace, :func:`slq_density` the spectral density;
:mod:`~landscape.curvature.sharpness` holds flatness measures and
:mod:`~landscape.curvature.preconditioned` the optimizer-aware curvature.
"""

from __future__ import annotations

from landscape.curvature.density import slq_density
from landscape.curvature.hvp import HessianLinearOperator, check_deterministic, loss_and_gradient
from landscape.curvature.lanczos import lanczos
from landscape.curvature.power import power_iteration
from landscape.curvature.results import EigenResult, SpectralDensity, TraceEstimate
from landscape.curvature.trace import hutchinson_trace, hutchpp_trace
from landscape.objective import Objective
from landscape.params import ParamDict

__all__ = [
    "EigenResult",
    "HessianLinearOperator",
    "SpectralDensity",
    "TraceEstimate",
    "check_deterministic",
    "hessian_directions",
    "hutchinson_trace",
    "hutchpp_trace",
    "lanczos",
    "loss_and_gradient",
    "power_iteration",
    "slq_density",
]


def hessian_directions(
    objective: Objective, params: ParamDict, k: int = 2, *, seed: int = 0, tol: float = 1e-3
) -> list[ParamDict]:
    """Return the top-``k`` Hessian eigenvectors at ``params`` as unit, name-keyed directions.

    Used for surfaces in the plane of the two sharpest directions
    (``landscape surface --dirs hessian``). Signs are those Lanczos returns.

    >>> import torch
    >>> from landscape.data import Split
    >>> x = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    >>> obj = Objective(torch.nn.Linear(2, 1, bias=False), Split(x, torch.zeros(2, 1)), loss="mse")
    >>> d = hessian_directions(obj, {"weight": torch.zeros(1, 2)}, k=1)   # H = diag(4, 1)
    >>> d[0]["weight"].abs().round(decimals=4).tolist()
    [[1.0, 0.0]]
    """
    result = lanczos(HessianLinearOperator(objective, params), k, tol=tol, seed=seed)
    return result.vectors_as_params(params)
