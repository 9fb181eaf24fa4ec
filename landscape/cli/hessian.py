"""``landscape hessian``: eigenpairs, trace and spectral density into ``curvature/hessian``."""

from __future__ import annotations

from typing import Any

import click

from landscape.cli.curvature_options import (
    checkpoint_inputs,
    curvature_run,
    estimator_settings,
    tol_option,
)
from landscape.cli.limits import limit_options


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


@click.command("hessian")
@checkpoint_inputs
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
@estimator_settings
@limit_options
def command(ctx: click.Context, **kw: Any) -> None:
    """Hessian (or GGN, Fisher) eigenvalues, trace and spectral density at a checkpoint.

    Curvature is computed on one split (--split both means train). Each
    finished stage is saved at once; re-running the same command resumes.

    \b
    Example:
      landscape hessian --model mlp --checkpoint final.pt --data mnist1d \\
          --top-k 5 --trace --density --out curv.h5
    """  # noqa: D301 (\b and \\ are click's no-rewrap mark and a shell line break)
    from landscape.curvature.api import hessian

    with curvature_run(ctx, kw, "curvature/hessian") as run:
        report = hessian(
            run.setup,
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
            **run.stored,
        )
        if run.progress:
            click.echo(eigen_line("top", report.top))
            if report.bottom is not None:
                click.echo(eigen_line("bottom", report.bottom))
            if report.trace is not None:
                click.echo(
                    f"trace: {report.trace.estimate:.6g} ± {report.trace.std_error:.2g} "
                    f"({report.trace.method})"
                )
