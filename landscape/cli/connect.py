"""``landscape connect``: loss along the line (and a fitted curve) between two checkpoints or runs."""

from __future__ import annotations

import click

from landscape.cli import logs
from landscape.cli.limits import limit_options
from landscape.cli.options import (
    choice_option,
    command_line,
    count_option,
    data_options,
    forwarded,
    number_option,
    overwrite_option,
    path_option,
    task_arguments,
    task_options,
    trust_checkpoint_option,
    verbosity_options,
)
from landscape.cli.threads import threads_option

CONNECT_OPTIONS = (
    "points align curve curve_epochs curve_lr curve_momentum curve_batch_size plane seed bn"
    " loss split max_samples batch_size tolerance device overwrite trust_checkpoint"
)
"""The options passed to :func:`~landscape.pipelines.connect.connect` under their own names."""


@click.command("connect")
@threads_option
@click.argument("runs", nargs=-1, type=click.Path(file_okay=False))
@click.option(
    "--model",
    "model_spec",
    required=True,
    help="Built-in model (mlp, cnn, resnet, ...) or 'module:callable' / 'file.py:callable'.",
)
@path_option("--checkpoint", "Checkpoint A.")
@path_option("--target", "Checkpoint B.")
@trust_checkpoint_option
@data_options
@task_options
@click.option(
    "--out",
    type=click.Path(),
    required=True,
    help="Output HDF5 file; with RUN directories, an output directory.",
)
@overwrite_option()
@click.option(
    "--points",
    type=int,
    default=21,
    show_default=True,
    help="Points on each path, t = 0 ... 1 (at least 3).",
)
@click.option(
    "--align",
    is_flag=True,
    help="Also the line to B with its hidden units permuted to match A (weight matching, "
    "Ainsworth et al. 2023).",
)
@choice_option(
    "--curve",
    ("bezier", "polychain"),
    None,
    "Also fit a curve of low loss from A to B (Garipov et al. 2018).",
)
@count_option("--curve-epochs", 10, "Epochs.")
@number_option("--curve-lr", 0.05, "SGD step size.")
@number_option("--curve-momentum", 0.9, "SGD momentum.")
@count_option("--curve-batch-size", 128, "Rows per step of the curve fit.")
@count_option(
    "--plane",
    15,
    "With --curve: train loss on an NxN grid over the plane of A, B and the control "
    "point, for `landscape plot` (0: none).",
    minimum=0,
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the fit and --max-samples."
)
@choice_option(
    "--bn",
    ("interp", "recompute"),
    "interp",
    "BatchNorm statistics: moved with the weights, or re-estimated at every point.",
)
@click.option(
    "--tolerance",
    type=float,
    default=None,
    metavar="TOL",
    help="Evaluate each path point only until the 95% half-width of its loss is at most TOL; "
    "stores standard errors (train_loss_se, ...) and rows used (the plane: all rows).",
)
@click.pass_context
@verbosity_options
@limit_options
def command(ctx: click.Context, runs: tuple[str, ...], **kw: object) -> None:
    """Are A and B in the same basin? Loss along the line between them, and its barrier.

    Stores, in the group ``connect``, the loss and accuracy along each path and
    ``linear_barrier`` = max_t L(θ_t) - ((1-t) L(A) + t L(B)) on the train split
    (Frankle et al. 2020); with --align also ``aligned_barrier``, with --curve also
    ``curve_barrier``. Re-running the same command resumes.

    With RUN directories (``landscape train`` outputs, each optionally LABEL=DIR; runs
    sharing a label are seeds of one group) instead of --checkpoint/--target, every pair of
    final checkpoints is connected and DIR/matrix.h5 holds the barrier matrix.

    \b
    Examples:
      landscape connect --model mlp --checkpoint sgd/final.pt --target adam/final.pt \\
          --align --curve bezier --out connect.h5
      landscape connect sgd=runs/sgd-0 sgd=runs/sgd-1 adam=runs/adam-0 adam=runs/adam-1 \\
          --model mlp --align --out barriers/
    """  # noqa: D301 (\b and \\ are click's no-rewrap mark and a shell line break)
    progress = logs.configure(ctx)
    pair = kw.pop("checkpoint"), kw.pop("target")
    if runs and any(pair):
        raise click.UsageError("give either RUN directories or --checkpoint and --target")
    if not runs and not all(pair):
        raise click.UsageError("give --checkpoint and --target (or two or more RUN directories)")
    options = {
        **forwarded(kw, CONNECT_OPTIONS),
        **task_arguments(kw),
        "progress": progress,
    }
    if runs:
        _matrix(kw, runs, options)
        return
    from landscape.pipelines.connect import connect

    result = connect(
        kw["model_spec"], *pair, kw["data_spec"], out=kw["out"], command=command_line(), **options
    )
    for name in result.paths:
        if f"{name}_barrier" in result.barriers:
            click.echo(
                f"{name} barrier: {result.barriers[f'{name}_barrier']:.4g} "
                f"at t={result.barriers[f'{name}_barrier_t']:.3g} (train)"
            )
    click.echo(f"wrote {kw['out']}", err=not progress)


def _matrix(kw: dict[str, object], runs: tuple[str, ...], options: dict[str, object]) -> None:
    """Connect every pair of runs, then print the barriers between groups in words."""
    from landscape.connect.summary import sentences
    from landscape.pipelines.connect_matrix import connect_runs

    matrix = connect_runs(
        kw["model_spec"],
        runs,
        kw["data_spec"],
        out_dir=kw["out"],
        command=command_line(),
        **options,
    )
    for line in sentences(matrix):
        click.echo(line)
    click.echo(f"wrote {matrix.path}", err=not options["progress"])
