"""One-call Hessian runs: load, compute stage by stage, write ``curvature/hessian`` as it goes.

:func:`prepare` loads the point both curvature commands measure at;
:func:`hessian` is what ``landscape hessian`` calls (``landscape sharpness``
calls :func:`landscape.pipelines.sharpness.sharpness`). Each finished stage
(top eigenpairs, bottom eigenpairs, trace, density) is committed to the file
in its own crash-safe transaction, so an interrupted run resumes at the first
missing stage when re-run with the same settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

from landscape.curvature.allocation import check_folder
from landscape.curvature.deflation import deflated_trace
from landscape.curvature.density import slq_density
from landscape.curvature.lanczos import lanczos, max_lanczos_steps
from landscape.curvature.matrices import Matrix, check_matrix, curvature_operator
from landscape.curvature.results import EigenResult
from landscape.curvature.trace import hutchinson_trace, hutchpp_trace, xtrace
from landscape.data import Data
from landscape.distributed import Context
from landscape.errors import LandscapeError
from landscape.objective import Objective
from landscape.params import ParamDict, flatten, num_params
from landscape.pipelines.curvature_stages import run_stages
from landscape.records import Eigenpairs, Spectrum
from landscape.setup import DType, load_objective

TraceMethod = Literal["hutch++", "hutchinson", "xtrace"]


@dataclass(frozen=True)
class Setup:
    """A loaded objective and point with their identity for provenance.

    Attributes:
        objective: the loss on the data split the curvature is measured on.
        params: the point (the checkpoint's parameters).
        identity: model, checkpoint, data, split, loss and dtype (stored in the config).
        context: the distributed context the stages share the data over.

    """

    objective: Objective
    params: ParamDict
    identity: dict[str, Any]
    context: Context = field(default_factory=Context)


def prepare(
    model: nn.Module | str,
    checkpoint: str | Path | None,
    data: str | Data | Any = "mnist1d",
    *,
    split: Literal["train", "test", "both"] = "train",
    max_samples: int | None = None,
    seed: int = 0,
    batch_size: int | None = 1000,
    loss: str = "cross_entropy",
    device: str = "auto",
    dtype: DType = "float32",
    trust_checkpoint: bool = False,
    context: Context | None = None,
    task: str | None = None,
    output: str | None = None,
    accuracy: bool = True,
) -> Setup:
    """Load model, checkpoint and one data split (``both``: train) into an :class:`Objective`.

    Through :func:`landscape.setup.load_objective`; ``context`` (``None``: a
    single process) is the distributed context the curvature stages share
    their data over; ``task``, ``output`` and ``accuracy`` say how the output is
    scored (see :class:`~landscape.objective.Objective`).
    """
    scoring = {"task": task, "output": output, "accuracy": accuracy}
    if dtype not in get_args(DType):
        raise LandscapeError(f"dtype: expected float32 or float64 (got {dtype!r})")
    which = "train" if split == "both" else split
    loaded = load_objective(
        model,
        checkpoint,
        data,
        split=which,
        max_samples=max_samples,
        seed=seed,
        loss=loss,
        batch_size=batch_size,
        dtype=dtype,
        device=device,
        trust_checkpoint=trust_checkpoint,
        context=context,
        **scoring,
    )
    identity = {
        "model": model if isinstance(model, str) else type(model).__name__,
        "checkpoint_sha256": loaded.checkpoint_sha256,
        "data": loaded.data.source,
        "data_sha256": loaded.objective.split.digest(),
        "split": which,
        "max_samples": max_samples,
        "loss": loss,
        "dtype": dtype,
        **Objective.changed_scoring(scoring),
    }
    return Setup(loaded.objective, loaded.params, identity, loaded.context)


def hessian(
    setup: Setup,
    *,
    matrix: Matrix = "hessian",
    fisher_samples: int = 1,
    top_k: int = 5,
    bottom_k: int = 0,
    tol: float = 1e-3,
    atol: float = 0.0,
    max_iter: int | None = None,
    trace: bool = False,
    trace_method: TraceMethod = "hutch++",
    trace_hvps: int = 99,
    trace_deflate: bool = False,
    density: bool = False,
    density_runs: int = 10,
    density_steps: int = 80,
    sigma: float = 0.01,
    seed: int = 0,
    basis_dir: str | Path | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> Spectrum:
    """Top (and bottom) eigenpairs, trace and spectral density of the Hessian at a checkpoint.

    Args:
        setup: from :func:`prepare`.
        matrix: the curvature matrix: ``hessian``, ``ggn``, ``fisher`` (Monte
            Carlo) or ``empirical-fisher`` (see :mod:`landscape.curvature.matrices`).
        fisher_samples: targets drawn per row for the Monte Carlo Fisher (with ``seed``).
        top_k: largest eigenpairs (Lanczos, tolerance ``tol``).
        bottom_k: smallest eigenpairs (0: skip), at the same tolerance.
        tol: relative residual tolerance ``||Hv - λv|| <= tol |λ|``, which
            certifies ``|θ - λ| <= tol |λ|``.
        atol: absolute residual floor for eigenvalues near zero
            (``||Hv - λv|| <= max(tol |λ|, atol)``; 0: relative only).
        max_iter: most Lanczos steps per end (default ``max(100, 20 k)`` at
            the top, ``max(300, 50 k)`` at the bottom).
        trace: estimate ``tr(H)`` with ``trace_method`` and ``trace_hvps`` products.
        trace_method: ``hutch++``, ``hutchinson`` or ``xtrace``.
        trace_hvps: products for the trace.
        trace_deflate: deflate the top stage's ``top_k`` eigenvectors exactly
            (their Ritz values summed, the estimator's products all spent on the
            rest; see :mod:`landscape.curvature.deflation`).
        density: estimate the spectral density (SLQ, ``density_runs`` x ``density_steps``).
        density_runs: SLQ runs.
        density_steps: Lanczos steps per run.
        sigma: Gaussian smoothing width relative to the spectrum's range.
        seed: seed of all random vectors.
        basis_dir: hold the Lanczos bases and the trace sketches in memory-mapped
            files in this folder (see :func:`~landscape.curvature.lanczos.lanczos`
            and :mod:`landscape.curvature.sketch`); same results.
        out: HDF5 file for ``curvature/hessian`` (``None``: keep in memory only).
        overwrite: replace a ``curvature/hessian`` made with other settings.
        progress: show a bar counting Hessian-vector products.
        command: the command line recorded in a new file.

    Raises:
        LandscapeError: for bad settings, or an existing result with different settings.

    """
    if trace_method not in get_args(TraceMethod):
        raise LandscapeError(
            f"trace-method: expected hutch++, hutchinson or xtrace (got {trace_method!r})"
        )
    if not atol >= 0:
        raise LandscapeError(f"atol: expected a number >= 0 (got {atol})")
    check_folder(basis_dir)
    config = {
        **setup.identity,
        **check_matrix(matrix, setup.objective.loss_spec, fisher_samples),
        "top_k": top_k,
        "bottom_k": bottom_k,
        "tol": tol,
        **({"atol": atol} if atol else {}),
        "max_iter": max_iter,
        "trace": trace,
        "trace_method": trace_method,
        "trace_hvps": trace_hvps,
        **({"trace_deflate": True} if trace_deflate else {}),
        "density": density,
        "density_runs": density_runs,
        "density_steps": density_steps,
        "sigma": sigma,
        "seed": seed,
    }
    stages: dict[str, Callable[[Any], Any]] = {
        "top": lambda op: lanczos(
            op, top_k, tol=tol, max_iter=max_iter, seed=seed, basis_dir=basis_dir
        ).to_record(setup.params),
    }
    if bottom_k:
        stages["bottom"] = lambda op: _bottom(
            op, bottom_k, tol=tol, atol=atol, max_iter=max_iter, seed=seed + 1, basis_dir=basis_dir
        ).to_record(setup.params)
    if trace:
        estimator = {"hutch++": hutchpp_trace, "hutchinson": hutchinson_trace, "xtrace": xtrace}[
            trace_method
        ]
        stages["trace"] = lambda op: (
            deflated_trace(
                estimator,
                op,
                trace_hvps,
                vectors=_flat_vectors(finished["top"], setup.params),
                ritz_values=finished["top"].eigenvalues,
                seed=seed,
                directory=basis_dir,
            )
            if trace_deflate
            else estimator(op, trace_hvps, seed=seed, directory=basis_dir)
        )
    if density:
        stages["density"] = lambda op: slq_density(
            op, num_runs=density_runs, num_steps=density_steps, sigma=sigma, seed=seed
        )
    finished: dict[str, Any] = {}
    n = num_params(setup.params)
    budgets = {
        "top": max_lanczos_steps(n, top_k, max_iter),
        "bottom": max_lanczos_steps(n, bottom_k, _bottom_steps(bottom_k, max_iter)),
        "trace": trace_hvps,
        "density": density_runs * min(density_steps, n),
    }
    results = run_stages(
        setup,
        "hessian",
        config,
        stages,
        operator=lambda ctx: curvature_operator(
            matrix,
            setup.objective,
            setup.params,
            fisher_samples=fisher_samples,
            seed=seed,
            context=ctx,
        ),
        budgets=budgets,
        out=out,
        overwrite=overwrite,
        progress=progress,
        command=command,
        finished=finished,
    )
    return Spectrum(**{k: results.get(k) for k in ("top", "bottom", "trace", "density")})


def _flat_vectors(pairs: Eigenpairs, params: ParamDict) -> Tensor:
    """``(k, n)`` float64 eigenvectors of a stored record, flattened in ``params``' order."""
    return torch.stack(
        [flatten({k: torch.from_numpy(v[k]) for k in params}).double() for v in pairs.eigenvectors]
    )


def _bottom_steps(k: int, max_iter: int | None) -> int:
    """Lanczos steps of the bottom stage: ``max_iter``, else ``max(300, 50 k)``.

    The bottom of a network's spectrum clusters near zero, so the same
    relative tolerance as at the top takes more steps there.
    """
    return max(300, 50 * k) if max_iter is None else max_iter


def _bottom(
    op: Any,
    k: int,
    *,
    tol: float,
    atol: float,
    max_iter: int | None,
    seed: int,
    basis_dir: str | Path | None = None,
) -> EigenResult:
    """Smallest eigenpairs, certified to ``max(tol |λ|, atol)`` (see :func:`lanczos`)."""
    return lanczos(
        op,
        k,
        which="smallest",
        tol=tol,
        atol=atol,
        max_iter=_bottom_steps(k, max_iter),
        seed=seed,
        basis_dir=basis_dir,
    )
