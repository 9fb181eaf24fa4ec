"""Choose the curvature matrix by name: Hessian, GGN, Monte Carlo Fisher or empirical Fisher.

All four are :class:`~landscape.curvature.operator.CurvatureLinearOperator` subclasses,
so Lanczos, the trace estimators and the spectral density take any of them.
"""

from __future__ import annotations

from typing import Literal, get_args

from landscape.curvature.fisher import (
    EmpiricalFisherLinearOperator,
    MonteCarloFisherLinearOperator,
    likelihood_of,
)
from landscape.curvature.ggn import GGNLinearOperator
from landscape.curvature.hvp import HessianLinearOperator
from landscape.curvature.operator import BatchObjective, CurvatureLinearOperator
from landscape.distributed import Context
from landscape.errors import LandscapeError
from landscape.params import ParamDict

Matrix = Literal["hessian", "ggn", "fisher", "empirical-fisher"]
MATRICES: tuple[str, ...] = get_args(Matrix)

TITLES: dict[str, str] = {
    "hessian": "Hessian",
    "ggn": "generalized Gauss-Newton matrix",
    "fisher": "Monte Carlo Fisher",
    "empirical-fisher": "empirical Fisher",
}
"""What each matrix is called in citations and messages."""


def check_matrix(matrix: str, loss: str, fisher_samples: int = 1) -> dict[str, object]:
    """Check a matrix choice before any work; return its entries for a stored config.

    The entries are absent at their defaults (``hessian``; ``fisher_samples``
    outside the Monte Carlo Fisher), so files made before the option still resume.

    Args:
        matrix: the matrix name.
        loss: the objective's loss spec (a Fisher needs a known likelihood).
        fisher_samples: targets per row of the Monte Carlo Fisher.

    Raises:
        LandscapeError: for an unknown matrix, a Fisher of a loss without a
            known likelihood, or fewer than one Fisher sample.

    >>> check_matrix("hessian", "l1"), check_matrix("fisher", "mse", 2)
    ({}, {'matrix': 'fisher', 'fisher_samples': 2})
    """
    if matrix not in MATRICES:
        raise LandscapeError(f"matrix: expected one of {', '.join(MATRICES)} (got {matrix!r})")
    if matrix == "fisher":
        likelihood_of(loss)
        if fisher_samples < 1:
            raise LandscapeError(f"fisher-samples: expected at least 1 (got {fisher_samples})")
        return {"matrix": matrix, "fisher_samples": fisher_samples}
    return {} if matrix == "hessian" else {"matrix": matrix}


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
