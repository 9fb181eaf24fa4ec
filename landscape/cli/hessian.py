"""``landscape hessian``: eigenpairs, trace and spectral density into ``curvature/hessian``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from landscape.cli import logs
from landscape.cli.options import (
    command_line,
    data_options,
    model_options,
    output_options,
    verbosity_options,
)

seed_option = click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of all random vectors and of --max-samples.",
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


def setup_from(kw: dict[str, Any]) -> Any:
    """Load the objective and checkpoint named by the shared options."""
    from landscape.curvature.api import prepare

    return prepare(
        kw["model_spec"],
        kw["checkpoint"],
        kw["data_spec"],
        split=kw["split"],
        max_samples=kw["max_samples"],
        seed=kw["seed"],
        batch_size=kw["batch_size"],
        loss=kw["loss"],
        device=kw["device"],
        dtype=kw["dtype"],
        trust_checkpoint=kw["trust_checkpoint"],
    )


@contextlib.contextmanager
def rank_session(kw: dict[str, Any]) -> Iterator[bool]:
    """Join a torchrun job if there is one; yield whether this is rank 0 (which reports).

    ``kw["device"]`` becomes this rank's device.
    """
    from landscape import distributed
    from landscape.api import resolve_device

    with distributed.session(resolve_device(kw["device"])) as (ctx, device):
        kw["device"] = str(device)
        yield ctx.is_main


@click.command("hessian")
@model_options
@data_options
@output_options
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
    "--max-iter",
    type=click.IntRange(min=1),
    default=None,
    help="Most Lanczos steps per end [default: max(100, 20k)].",
)
@click.option("--trace", is_flag=True, help="Estimate tr(H) (Hutch++ by default).")
@click.option(
    "--trace-method",
    type=click.Choice(["hutch++", "hutchinson"]),
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
@dtype_option
@click.pass_context
@verbosity_options
def command(ctx: click.Context, **kw: Any) -> None:
    """Hessian eigenvalues, trace and spectral density at a checkpoint.

    Curvature is computed on one split (--split both means train). Each
    finished stage is saved at once; re-running the same command resumes.

    \b
    Example:
      landscape hessian --model mlp --checkpoint final.pt --data mnist1d \\
          --top-k 5 --trace --density --out curv.h5
    """  # noqa: D301 (\b and \\ are click's no-rewrap mark and a shell line break)
    progress = logs.configure(ctx)
    from landscape.curvature.api import hessian

    with rank_session(kw) as main:
        progress = progress and main

        report = hessian(
            setup_from(kw),
            top_k=kw["top_k"],
            bottom_k=kw["bottom_k"],
            tol=kw["tol"],
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
            top = report.top
            click.echo(
                "top eigenvalues: "
                + ", ".join(f"{v:.6g}" for v in top.eigenvalues)
                + f" ({top.num_hvps} HVPs, "
                + f"{int(top.converged.sum())}/{len(top.converged)} converged)"
            )
            if report.bottom is not None:
                click.echo(
                    "bottom eigenvalues: "
                    + ", ".join(f"{v:.6g}" for v in report.bottom.eigenvalues)
                )
            if report.trace is not None:
                click.echo(
                    f"trace: {report.trace.estimate:.6g} ± {report.trace.std_error:.2g} "
                    f"({report.trace.method})"
                )
        if main:
            click.echo(f"{kw['out']}: curvature/hessian", err=not progress)
