"""``landscape surface``: a 1D/2D loss surface around a checkpoint, into HDF5."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from landscape.cli import logs
from landscape.cli.limits import limit_options
from landscape.cli.options import (
    SEED,
    command_line,
    data_options,
    forwarded,
    model_options,
    output_options,
    task_arguments,
    task_options,
    verbosity_options,
)
from landscape.cli.threads import threads_option

if TYPE_CHECKING:
    from landscape.distributed import Context


SURFACE_OPTIONS = (
    "dirs x y norm keep_1d one_d orthogonal seed targets loss split max_samples batch_size bn"
    " device points_per_pass tolerance out overwrite trust_checkpoint"
)
"""The options passed to :func:`~landscape.pipelines.surface.surface` under their own names."""


@click.command("surface")
@threads_option
@model_options
@data_options
@task_options
@output_options
@click.option(
    "--dirs",
    default="random",
    show_default=True,
    help="random | interp (toward --target) | plane (through --target x2) | hessian | "
    "FILE.h5 to reuse its directions (ours, or a Li et al. direction file).",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Other checkpoint(s) for --dirs interp (one) or plane (two).",
)
@click.option(
    "--norm",
    type=click.Choice(["filter", "layer", "weight", "none"]),
    default="filter",
    show_default=True,
    help="Normalization of random directions (filter: Li et al. 2018).",
)
@click.option(
    "--keep-1d",
    is_flag=True,
    help="Keep biases and norm-layer parameters in random directions (zeroed by default).",
)
@click.option(
    "--one-d",
    type=click.Choice(["zero", "normalize", "weights"]),
    default=None,
    help="1-D parameters of random directions: zero [default], normalize (= --keep-1d), "
    "or weights (the weights themselves, as Li et al.'s code without ignore=biasbn).",
)
@click.option(
    "--orthogonal",
    is_flag=True,
    help="Orthogonalize the second random direction against the first.",
)
@click.option(
    "--seed",
    type=SEED,
    default=0,
    show_default=True,
    help="Seed of random directions and of --max-samples.",
)
@click.option(
    "--x",
    "x",
    default="-1:1:51",
    show_default=True,
    help="Grid along the first direction: START:STOP:NUM or a,b,c.",
)
@click.option(
    "--y", "y", default=None, help="Grid along the second direction (omit for a 1D surface)."
)
@click.option(
    "--bn",
    type=click.Choice(["eval", "recompute"]),
    default="eval",
    show_default=True,
    help="BatchNorm: keep the checkpoint's statistics, or re-estimate them at every point.",
)
@click.option(
    "--points-per-pass",
    type=click.IntRange(min=1),
    default=None,
    help="Grid points per forward pass [default: chosen by measurement].",
)
@click.option(
    "--tolerance",
    type=float,
    default=None,
    metavar="TOL",
    help="Evaluate each point only until the 95% half-width of its loss is at most TOL "
    "(one point per pass); stores standard errors (train_loss_se, ...) and rows used.",
)
@click.pass_context
@verbosity_options
@limit_options
def command(ctx: click.Context, context: Context, **kw: object) -> None:
    """Compute a 1D or 2D loss surface around a checkpoint and store it in HDF5.

    Re-running the same command resumes: only missing points are computed.

    \b
    Example:
      landscape surface --model mlp --checkpoint run/final.pt --data mnist1d \\
          --dirs random --norm filter --x=-1:1:51 --y=-1:1:51 --out surf.h5
    """  # noqa: D301 (\b and \\ are click's no-rewrap mark and a shell line break)
    progress = logs.configure(ctx)
    from landscape.pipelines.surface import surface

    main = context.is_main  # under torchrun, only rank 0 reports
    progress = progress and main
    result = surface(
        kw["model_spec"],
        kw["checkpoint"],
        kw["data_spec"],
        **forwarded(kw, SURFACE_OPTIONS),
        progress=progress,
        command=command_line(),
        context=context,
        **task_arguments(kw),
    )
    done, total = int(result.done.sum()), result.done.size
    if main:
        click.echo(f"{kw['out']}: {done}/{total} points", err=not progress)
