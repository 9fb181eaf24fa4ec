"""``landscape trajectory``: PCA plane of optimizer paths and the surface under them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from landscape.cli import options
from landscape.cli.limits import limit_options

if TYPE_CHECKING:
    from landscape.distributed import Context
from landscape.cli.threads import threads_option


@click.command(name="trajectory")
@threads_option
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@options.path_option("--out", "Output HDF5 file.", required=True)
@options.path_option(
    "--origin",
    "With several runs: the run whose final checkpoint is the origin [last run].",
    folder=True,
)
@options.run_spec_options
@options.choice_option("--split", options.SPLITS, "train", "Which split(s) the surface evaluates.")
@options.count_option("--max-samples", None, "Rows per split for the surface [as trained].")
@options.batch_size_option
@options.count_option("--resolution", 21, "Grid points per axis of the surface.", minimum=2)
@options.positive_option(
    "--margin", 0.25, "Grid margin around the path, as a fraction of its extent.", or_zero=True
)
@click.option(
    "--no-surface", is_flag=True, help="Only the plane and the projected path, no surface."
)
@options.device_option
@options.trust_checkpoint_option
@options.overwrite_option()
@click.pass_context
@options.verbosity_options
@limit_options
def command(
    ctx: click.Context,
    *,
    context: Context,
    runs: tuple[str, ...],
    model_spec: str | None,
    data_spec: str | None,
    trust_checkpoint: bool,
    no_surface: bool,
    **kw: Any,
) -> None:
    """Project the checkpoints of RUNS onto their PCA plane and compute the loss surface there.

    One run: the plane of Li et al. 2018 (differences of every checkpoint from
    the final one). Several runs: one shared plane over all their checkpoints,
    origin at the end of --origin, so their paths can be drawn on one surface
    ('landscape plot OUT --kind contour+path').

    A model, data or loss spec that names code ('module:callable') is taken
    from the run only when typed again with --model/--data/--loss, or with
    --trust-run-config: a file never chooses code to import.
    """
    from landscape.pipelines.trajectory import compute_trajectory

    result = compute_trajectory(
        runs,
        model=model_spec,
        data=data_spec,
        trust=trust_checkpoint,
        surface=not no_surface,
        progress=not options.quiet(ctx) and context.is_main,
        command=options.command_line(),
        context=context,
        **kw,
    )
    if not options.quiet(ctx) and context.is_main:
        t = result.trajectory
        ev = ", ".join(f"{100 * v:.1f}%" for v in t.explained_variance_ratio)
        click.echo(
            f"{kw['out']}: {len(t.coords)} checkpoints of {len(t.labels)} run(s) on the PCA plane "
            f"(explained variance {ev}; max off-plane residual {t.residual.max():.2g})"
        )
