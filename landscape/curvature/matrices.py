"""Choose the curvature matrix by name: Hessian, GGN, Monte Carlo Fisher or empirical Fisher.

All four are :class:`~landscape.curvature.operator.CurvatureLinearOperator` subclasses,
so Lanczos, the trace estimators and the spectral density take any of them.
"""

from __future__ import annotations

from typing import Literal, get_args

from landscape.curvature.fisher import EmpiricalFisherLinearOperator, MonteCarloFisherLinearOperator
from landscape.curvature.ggn import GGNLinearOperator
from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.operator import BatchObjective, CurvatureLinearOperator
from landscape.distributed import Context
from landscape.errors import LandscapeError
from landscape.params import ParamDict

Matrix = Literal["hessian", "ggn", "fisher", "empirical-fisher"]
MATRICES: tuple[str, ...] = get_args(Matrix)


def curvature_operator(
    matrix: Matrix,
    objective: BatchObjective,
    params: ParamDict,
    *,
    fisher_samples: int = 1,
    seed: int = 0,
    context: Context | None = None,
) -> CurvatureLinearOperator:
    """The operator of ``matrix`` at ``params``.

    Args:
        matrix: ``hessian``, ``ggn`` (generalized Gauss-Newton), ``fisher``
            (Monte Carlo, ``fisher_samples`` targets per row drawn with
            ``seed``) or ``empirical-fisher``.
        objective: the loss.
        params: the point.
        fisher_samples: targets per row of the Monte Carlo Fisher.
        seed: seed of its draws.
        context: distributed context.

    Raises:
        LandscapeError: for an unknown matrix, or a Fisher of a loss without
            a known likelihood.

    >>> import torch
    >>> from landscape.data import Split
    >>> from landscape.objective import Objective
    >>> obj = Objective(torch.nn.Linear(2, 1), Split(torch.eye(2), torch.zeros(2, 1)), loss="mse")
    >>> type(curvature_operator("ggn", obj, dict(obj.model.named_parameters()))).__name__
    'GGNLinearOperator'
    """
    if matrix == "hessian":
        return HessianLinearOperator(objective, params, context=context)
    if matrix == "ggn":
        return GGNLinearOperator(objective, params, context=context)
    if matrix == "fisher":
        return MonteCarloFisherLinearOperator(
            objective, params, num_samples=fisher_samples, seed=seed, context=context
        )
    if matrix == "empirical-fisher":
        return EmpiricalFisherLinearOperator(objective, params, context=context)
    raise LandscapeError(f"matrix: expected one of {', '.join(MATRICES)} (got {matrix!r})")
