"""``landscape hessian``: eigenpairs, trace and spectral density into ``curvature/hessian``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from landscape.cli import options
from landscape.cli.curvature_options import (
    checkpoint_inputs,
    curvature_run,
    estimator_settings,
    matrix_options,
    tol_option,
)
from landscape.cli.limits import limit_options
from landscape.cli.options import choice_option, count_option, path_option, positive_option
from landscape.cli.threads import threads_option

TRACE_METHODS = ("hutch++", "hutchinson", "xtrace")
"""The choices of ``--trace-method``."""

if TYPE_CHECKING:
    from landscape.distributed import Context


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


HESSIAN_OPTIONS = (
    "matrix fisher_samples top_k bottom_k tol atol max_iter trace trace_method trace_hvps"
    " trace_deflate density density_runs density_steps sigma"
)
"""The options passed to :func:`~landscape.pipelines.curvature.hessian` under their own names."""


@click.command("hessian")
@threads_option
@checkpoint_inputs
@matrix_options
@count_option("--top-k", 5, "Largest eigenvalues (and eigenvectors) to find.")
@count_option("--bottom-k", 0, "Smallest eigenvalues to find (0: none).", minimum=0)
@tol_option
@positive_option(
    "--atol",
    0.0,
    "Absolute residual floor for eigenvalues near zero: ||Hv - λv|| <= max(tol |λ|, atol) "
    "(0: relative only).",
    or_zero=True,
)
@count_option(
    "--max-iter",
    None,
    "Most Lanczos steps per end [default: max(100, 20k) top, max(300, 50k) bottom].",
)
@path_option(
    "--basis-on-disk",
    "Hold the Lanczos basis and the trace sketches in memory-mapped files in this folder "
    "(for what does not fit in memory; same results, removed when done).",
    folder=True,
)
@click.option("--trace", is_flag=True, help="Estimate tr(H) (Hutch++ by default).")
@choice_option(
    "--trace-method",
    TRACE_METHODS,
    "hutch++",
    "Trace estimator: Hutch++ (Meyer et al. 2021) or plain Hutchinson.",
)
@count_option("--trace-hvps", 99, "Hessian-vector products for the trace.", minimum=4)
@click.option(
    "--trace-deflate",
    is_flag=True,
    help="Deflate the top-k eigenvectors from the trace: their eigenvalues are summed "
    "exactly and every trace product goes to the rest (smaller standard error).",
)
@click.option(
    "--density",
    is_flag=True,
    help="Estimate the spectral density by stochastic Lanczos quadrature.",
)
@count_option("--density-runs", 10, "SLQ runs (random start vectors).")
@count_option("--density-steps", 80, "Lanczos steps per SLQ run.")
@positive_option("--sigma", 0.01, "Density smoothing width, as a fraction of the spectrum's range.")
@estimator_settings
@limit_options
def command(ctx: click.Context, context: Context, **kw: Any) -> None:
    """Hessian (or GGN, Fisher) eigenvalues, trace and spectral density at a checkpoint.

    Curvature is computed on one split (--split both means train). Each
    finished stage is saved at once; re-running the same command resumes.

    \b
    Example:
      landscape hessian --model mlp --checkpoint final.pt --data mnist1d \\
          --top-k 5 --trace --density --out curv.h5
    """  # noqa: D301 (\b and \\ are click's no-rewrap mark and a shell line break)
    from landscape.pipelines.curvature import hessian

    with curvature_run(ctx, context, kw, "curvature/hessian") as run:
        report = hessian(
            run.setup,
            **options.forwarded(kw, HESSIAN_OPTIONS),
            basis_dir=kw["basis_on_disk"],
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
