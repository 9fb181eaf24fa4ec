"""``landscape trajectory``: PCA plane of optimizer paths and the surface under them."""

from __future__ import annotations

import sys

import click

from landscape.cli.limits import limit_options
from landscape.cli.options import (
    device_option,
    quiet,
    run_spec_options,
    trust_checkpoint_option,
    verbosity_options,
)


@click.command(name="trajectory")
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output HDF5 file.")
@click.option(
    "--origin",
    type=click.Path(file_okay=False),
    default=None,
    help="With several runs: the run whose final checkpoint is the origin [last run].",
)
@run_spec_options
@click.option(
    "--split",
    type=click.Choice(["train", "test", "both"]),
    default="train",
    show_default=True,
    help="Which split(s) the surface evaluates.",
)
@click.option(
    "--max-samples",
    type=click.IntRange(min=1),
    default=None,
    help="Rows per split for the surface [as trained].",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Samples per forward pass.",
)
@click.option(
    "--resolution",
    type=click.IntRange(min=2),
    default=21,
    show_default=True,
    help="Grid points per axis of the surface.",
)
@click.option(
    "--margin",
    type=click.FloatRange(min=0),
    default=0.25,
    show_default=True,
    help="Grid margin around the path, as a fraction of its extent.",
)
@click.option(
    "--no-surface", is_flag=True, help="Only the plane and the projected path, no surface."
)
@device_option
@trust_checkpoint_option
@click.option("--overwrite", is_flag=True, help="Replace an output made with different settings.")
@click.pass_context
@verbosity_options
@limit_options
def command(
    ctx: click.Context,
    runs: tuple[str, ...],
    out: str,
    origin: str | None,
    model_spec: str | None,
    data_spec: str | None,
    split: str,
    max_samples: int | None,
    loss: str | None,
    batch_size: int,
    resolution: int,
    margin: float,
    no_surface: bool,
    device: str,
    trust_checkpoint: bool,
    trust_run_config: bool,
    overwrite: bool,
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
    from landscape.trajectory import compute_trajectory

    result = compute_trajectory(
        runs,
        out,
        origin=origin,
        model=model_spec,
        data=data_spec,
        split=split,
        max_samples=max_samples,
        loss=loss,
        batch_size=batch_size,
        resolution=resolution,
        margin=margin,
        surface=not no_surface,
        device=device,
        trust=trust_checkpoint,
        trust_run_config=trust_run_config,
        overwrite=overwrite,
        progress=not quiet(ctx),
        command=" ".join(["landscape", *sys.argv[1:]]),
    )
    if not quiet(ctx):
        t = result.trajectory
        ev = ", ".join(f"{100 * v:.1f}%" for v in t.explained_variance_ratio)
        click.echo(
            f"{out}: {len(t.coords)} checkpoints of {len(t.labels)} run(s) on the PCA plane "
            f"(explained variance {ev}; max off-plane residual {t.residual.max():.2g})"
        )
