"""``landscape hessian``: eigenpairs, trace and spectral density into ``curvature/hessian``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from landscape.cli import logs
from landscape.cli.options import (
    SEED,
    command_line,
    data_options,
    model_options,
    output_options,
    rank_session,
    task_arguments,
    task_options,
    verbosity_options,
)

if TYPE_CHECKING:
    from landscape.curvature.api import Setup
    from landscape.distributed import Context

seed_option = click.option(
    "--seed",
    type=SEED,
    default=0,
    show_default=True,
    help="Seed of the estimators' random vectors (start vectors, probes).",
)
data_seed_option = click.option(
    "--data-seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the --max-samples subset (apart from --seed, so the matrix stays the same).",
)
dtype_option = click.option(
    "--dtype",
    type=click.Choice(["float32", "float64"]),
    default="float32",
    show_default=True,
    help="Precision of the Hessian-vector products (float64: slower, exact to ~1e-12).",
)
tol_option = click.option(
    "--tol",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-3,
    show_default=True,
    help="Lanczos stops when ||Hv - λv|| <= tol |λ| for every wanted pair.",
)


def eigen_line(end: str, result: Any) -> str:
    """One line of eigenvalues, each with its error bound where the result has one.

    >>> from types import SimpleNamespace as NS
    >>> import numpy as np
    >>> r = NS(eigenvalues=np.array([2.0]), error_bounds=np.array([1e-9]),
    ...        num_matvecs=7, converged=np.array([True]))
    >>> eigen_line("top", r)
    'top eigenvalues (± error bound): 2 ± 1e-09 (7 HVPs, 1/1 converged)'
    """
    bounds = getattr(result, "error_bounds", None)
    values = [f"{v:.6g}" for v in result.eigenvalues]
    if bounds is not None:
        values = [f"{v} ± {b:.2g}" for v, b in zip(values, bounds, strict=True)]
    label = f"{end} eigenvalues" + (" (± error bound)" if bounds is not None else "")
    converged = f"{int(result.converged.sum())}/{len(result.converged)} converged"
    return f"{label}: {', '.join(values)} ({result.num_matvecs} HVPs, {converged})"


def setup_from(kw: dict[str, Any], context: Context) -> Setup:
    """Load the objective and checkpoint named by the shared options, for this rank."""
    from landscape.curvature.api import prepare

    return prepare(
        kw["model_spec"],
        kw["checkpoint"],
        kw["data_spec"],
        split=kw["split"],
        max_samples=kw["max_samples"],
        seed=kw.get("data_seed", kw["seed"]),  # commands without --data-seed: as before
        batch_size=kw["batch_size"],
        loss=kw["loss"],
        device=kw["device"],
        dtype=kw["dtype"],
        trust_checkpoint=kw["trust_checkpoint"],
        context=context,
        **task_arguments(kw),
    )


@click.command("hessian")
@model_options
@data_options
@task_options
@output_options
@click.option(
    "--matrix",
    type=click.Choice(["hessian", "ggn", "fisher", "empirical-fisher"]),
    default="hessian",
    show_default=True,
    help="Curvature matrix: the Hessian, the generalized Gauss-Newton J^T H_out J, "
    "the Monte Carlo Fisher (targets drawn from the model) or the empirical Fisher.",
)
@click.option(
    "--fisher-samples",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Targets drawn per row for --matrix fisher (with --seed).",
)
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Largest eigenvalues (and eigenvectors) to find.",
)
@click.option(
    "--bottom-k",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Smallest eigenvalues to find (0: none).",
)
@tol_option
@click.option(
    "--atol",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Absolute residual floor for eigenvalues near zero: ||Hv - λv|| <= max(tol |λ|, atol) "
    "(0: relative only).",
)
@click.option(
    "--max-iter",
    type=click.IntRange(min=1),
    default=None,
    help="Most Lanczos steps per end [default: max(100, 20k) top, max(300, 50k) bottom].",
)
@click.option("--trace", is_flag=True, help="Estimate tr(H) (Hutch++ by default).")
@click.option(
    "--trace-method",
    type=click.Choice(["hutch++", "hutchinson", "xtrace"]),
    default="hutch++",
    show_default=True,
    help="Trace estimator: Hutch++ (Meyer et al. 2021) or plain Hutchinson.",
)
@click.option(
    "--trace-hvps",
    type=click.IntRange(min=4),
    default=99,
    show_default=True,
    help="Hessian-vector products for the trace.",
)
@click.option(
    "--density",
    is_flag=True,
    help="Estimate the spectral density by stochastic Lanczos quadrature.",
)
@click.option(
    "--density-runs",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="SLQ runs (random start vectors).",
)
@click.option(
    "--density-steps",
    type=click.IntRange(min=1),
    default=80,
    show_default=True,
    help="Lanczos steps per SLQ run.",
)
@click.option(
    "--sigma",
    type=click.FloatRange(min=0, min_open=True),
    default=0.01,
    show_default=True,
    help="Density smoothing width, as a fraction of the spectrum's range.",
)
@seed_option
@data_seed_option
@dtype_option
@click.pass_context
@verbosity_options
def command(ctx: click.Context, **kw: Any) -> None:
    """Hessian (or GGN, Fisher) eigenvalues, trace and spectral density at a checkpoint.

    Curvature is computed on one split (--split both means train). Each
    finished stage is saved at once; re-running the same command resumes.

    \b
    Example:
      landscape hessian --model mlp --checkpoint final.pt --data mnist1d \\
          --top-k 5 --trace --density --out curv.h5
    """  # noqa: D301 (\b and \\ are click's no-rewrap mark and a shell line break)
    progress = logs.configure(ctx)
    from landscape.curvature.api import hessian

    with rank_session(kw["device"]) as context:
        main = context.is_main
        progress = progress and main
        report = hessian(
            setup_from(kw, context),
            matrix=kw["matrix"],
            fisher_samples=kw["fisher_samples"],
            top_k=kw["top_k"],
            bottom_k=kw["bottom_k"],
            tol=kw["tol"],
            atol=kw["atol"],
            max_iter=kw["max_iter"],
            trace=kw["trace"],
            trace_method=kw["trace_method"],
            trace_hvps=kw["trace_hvps"],
            density=kw["density"],
            density_runs=kw["density_runs"],
            density_steps=kw["density_steps"],
            sigma=kw["sigma"],
            seed=kw["seed"],
            out=kw["out"],
            overwrite=kw["overwrite"],
            progress=progress,
            command=command_line(),
        )
        if progress:
            click.echo(eigen_line("top", report.top))
            if report.bottom is not None:
                click.echo(eigen_line("bottom", report.bottom))
            if report.trace is not None:
                click.echo(
                    f"trace: {report.trace.estimate:.6g} ± {report.trace.std_error:.2g} "
                    f"({report.trace.method})"
                )
        if main:
            click.echo(f"{kw['out']}: curvature/hessian", err=not progress)
