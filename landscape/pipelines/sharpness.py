"""One-call sharpness runs: load, measure one sharpness measure at a time, write as it goes.

:func:`sharpness` is what ``landscape sharpness`` calls. Each finished
measure is committed to ``curvature/sharpness`` in its own crash-safe
transaction, so an interrupted run resumes at the first missing measure when
re-run with the same settings. The loaded point comes from
:func:`landscape.pipelines.curvature.prepare`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landscape.curvature.allocation import check_folder
from landscape.curvature.lanczos import lanczos, max_lanczos_steps
from landscape.curvature.matrices import TITLES, Matrix, check_matrix, curvature_operator
from landscape.curvature.preconditioned import (
    OptimizerState,
    directional_curvature,
    preconditioned_sharpness,
    preconditioner,
    stability_threshold,
    update_direction,
)
from landscape.curvature.sharpness import (
    Metric,
    Sharpness,
    adaptive_average_case_sharpness,
    adaptive_worst_case_sharpness,
    filter_normalized_width,
    keskar_sharpness,
    pac_bayes_sigma,
)
from landscape.curvature.trace import hutchpp_trace
from landscape.errors import LandscapeError
from landscape.params import ParamDict, flatten, num_params
from landscape.pipelines.curvature import Setup
from landscape.pipelines.curvature_stages import run_stages

MEASURES = (
    "lambda_max",
    "trace",
    "keskar",
    "adaptive_worst",
    "adaptive_average",
    "pac_bayes_sigma",
    "filter_width",
)
"""Sharpness measures of :func:`sharpness` (``preconditioned`` is added with an optimizer state)."""


@dataclass(frozen=True)
class SharpnessReport:
    """What ``landscape sharpness`` computed, by measure name (read back when resumed).

    Under torchrun, ranks other than 0 hold only the measures they computed.
    """

    measures: dict[str, Sharpness]


def sharpness(
    setup: Setup,
    *,
    measures: Sequence[str] = MEASURES,
    matrix: Matrix = "hessian",
    fisher_samples: int = 1,
    tol: float = 1e-3,
    trace_hvps: int = 99,
    epsilon: float = 1e-3,
    keskar_iter: int = 10,
    rho: float = 0.1,
    steps: int = 20,
    samples: int = 20,
    pac_target: float = 0.1,
    pac_metric: Metric = "error",
    width_increase: float = 0.1,
    width_radius: float = 1.0,
    optimizer_state: OptimizerState | None = None,
    seed: int = 0,
    basis_dir: str | Path | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> SharpnessReport:
    """Sharpness measures at a checkpoint (see :mod:`landscape.curvature.sharpness`).

    With ``optimizer_state``, adds ``precond_lambda_max`` (``λ_max(P^{-1/2} H P^{-1/2})``),
    ``stability_threshold`` and ``update_curvature`` (curvature along the next update).
    ``matrix`` (``hessian``, ``ggn``, ``fisher`` with ``fisher_samples`` draws
    per row, ``empirical-fisher``; see :mod:`landscape.curvature.matrices`) is
    the ``H`` of the measures defined through a curvature matrix: ``lambda_max``,
    ``trace``, ``precond_lambda_max`` and ``update_curvature``; the others are
    measured on the loss itself. ``basis_dir`` holds the Lanczos basis of
    ``lambda_max`` and the trace's sketches in memory-mapped files there (same results).

    Raises:
        LandscapeError: for an unknown measure or an existing result with different settings.

    """
    unknown = [m for m in measures if m not in MEASURES]
    if unknown or not measures:
        raise LandscapeError(
            f"measures: expected a comma list of {', '.join(MEASURES)} "
            f"(got {', '.join(measures) or 'nothing'})"
        )
    check_folder(basis_dir)
    obj, params = setup.objective, setup.params
    chosen = check_matrix(matrix, obj.loss_spec, fisher_samples)
    makers: dict[str, Callable[[Any], Sharpness]] = {
        "lambda_max": lambda op: _lambda_max(op, tol, seed, chosen, basis_dir),
        "trace": lambda op: _trace(op, trace_hvps, seed, chosen, basis_dir),
        "keskar": lambda op: keskar_sharpness(
            obj, params, epsilon=epsilon, max_iter=keskar_iter, seed=seed
        ),
        "adaptive_worst": lambda op: adaptive_worst_case_sharpness(
            obj, params, rho=rho, steps=steps, seed=seed
        ),
        "adaptive_average": lambda op: adaptive_average_case_sharpness(
            obj, params, rho=rho, num_samples=samples, seed=seed
        ),
        "pac_bayes_sigma": lambda op: pac_bayes_sigma(
            obj,
            params,
            target=pac_target,
            metric=pac_metric if obj.has_accuracy else "loss",
            num_samples=samples,
            seed=seed,
        ),
        "filter_width": lambda op: filter_normalized_width(
            obj, params, increase=width_increase, radius=width_radius, seed=seed
        ),
    }
    stages: dict[str, Callable[[Any], Any]] = {m: makers[m] for m in MEASURES if m in measures}
    config: dict[str, Any] = {
        **setup.identity,
        **chosen,
        "measures": list(stages),
        "tol": tol,
        "trace_hvps": trace_hvps,
        "epsilon": epsilon,
        "keskar_iter": keskar_iter,
        "rho": rho,
        "steps": steps,
        "samples": samples,
        "pac_target": pac_target,
        "pac_metric": pac_metric,
        "width_increase": width_increase,
        "width_radius": width_radius,
        "seed": seed,
        "optimizer": None,
    }
    if optimizer_state is not None:
        config["optimizer"] = {
            "name": optimizer_state.name,
            "hparams": {k: v for k, v in optimizer_state.hparams.items() if _plain(v)},
            "step": optimizer_state.step,
        }
        for name, make in _optimizer_stages(optimizer_state, params, tol, seed, chosen).items():
            stages[name] = make
    results = run_stages(
        setup,
        "sharpness",
        config,
        stages,
        operator=lambda ctx: curvature_operator(
            matrix, obj, params, fisher_samples=fisher_samples, seed=seed, context=ctx
        ),
        budgets=_sharpness_budgets(num_params(setup.params), trace_hvps),
        out=out,
        overwrite=overwrite,
        progress=progress,
        command=command,
    )
    return SharpnessReport({name: results[name] for name in stages if name in results})


def _sharpness_budgets(n: int, trace_hvps: int) -> dict[str, int]:
    """Most Hessian-vector products of each measure that uses any."""
    lanczos_steps = max_lanczos_steps(n, 1)
    return {
        "lambda_max": lanczos_steps,
        "trace": trace_hvps,
        "precond_lambda_max": lanczos_steps,
        "update_curvature": 1,
    }


def _plain(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool, type(None))) or (
        isinstance(v, (tuple, list)) and all(_plain(x) for x in v)
    )


def _lambda_max(
    op: Any, tol: float, seed: int, chosen: dict[str, Any], basis_dir: str | Path | None
) -> Sharpness:
    r = lanczos(op, 1, tol=tol, seed=seed, basis_dir=basis_dir)
    title = TITLES[chosen.get("matrix", "hessian")]
    return Sharpness(
        "lambda_max",
        float(r.eigenvalues[0]),
        settings={"tol": tol, "seed": seed, "num_matvecs": r.num_matvecs, **_bound(r), **chosen},
        citation=f"Hochreiter & Schmidhuber 1997; Keskar et al. 2017 (λ_max of the {title}, Lanczos)",
    )


def _bound(r: Any) -> dict[str, float]:
    """The residual and error bound of a top eigenvalue, for a measure's settings.

    They are bounds on ``|θ - λ|``, not standard errors, so the measure's
    ``std_error`` stays NaN.
    """
    return {"residual": float(r.residuals[0]), "error_bound": float(r.error_bounds[0])}


def _trace(
    op: Any, hvps: int, seed: int, chosen: dict[str, Any], basis_dir: str | Path | None
) -> Sharpness:
    t = hutchpp_trace(op, hvps, seed=seed, directory=basis_dir)
    return Sharpness(
        "trace",
        t.estimate,
        t.std_error,
        {"method": t.method, "num_matvecs": hvps, "seed": seed, **chosen},
        "Meyer et al. 2021 (Hutch++)",
    )


def _optimizer_stages(
    opt: OptimizerState, params: ParamDict, tol: float, seed: int, chosen: dict[str, Any]
) -> dict[str, Callable[[Any], Sharpness]]:
    settings = {"optimizer": opt.name, "step": opt.step}
    curvature_settings = {**settings, **chosen}
    p = preconditioner(opt, params)
    stages: dict[str, Callable[[Any], Sharpness]] = {
        "stability_threshold": lambda op: Sharpness(
            "stability_threshold",
            stability_threshold(opt),
            settings=settings,
            citation="Cohen et al. 2021, 2022",
        ),
    }
    if p is not None:

        def precond(op: Any) -> Sharpness:
            r = preconditioned_sharpness(op, p, list(params), tol=tol, seed=seed)
            return Sharpness(
                "precond_lambda_max",
                float(r.eigenvalues[0]),
                settings={
                    **curvature_settings,
                    "tol": tol,
                    "num_matvecs": r.num_matvecs,
                    **_bound(r),
                },
                citation="Cohen et al. 2022 (λ_max of P^-1 H)",
            )

        stages["precond_lambda_max"] = precond

    def update(op: Any) -> Sharpness:
        d = update_direction(opt, op.gradient)
        return Sharpness(
            "update_curvature",
            directional_curvature(op, flatten(d, params)),
            settings=curvature_settings,
            citation="dᵀHd along the unit direction of the optimizer's next step",
        )

    stages["update_curvature"] = update
    return stages
