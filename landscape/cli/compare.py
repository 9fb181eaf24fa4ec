"""``landscape compare``: why several training runs converged differently, as a report."""

from __future__ import annotations

import click

from landscape.cli import logs
from landscape.cli.limits import limit_options
from landscape.cli.options import (
    SEED,
    command_line,
    device_option,
    run_spec_options,
    verbosity_options,
)

CONFIG_OPTIONS = (
    "train_target",
    "val_target",
    "curvature_samples",
    "max_checkpoints",
    "trace_probes",
    "profile_grid",
    "profile_radius",
    "profile_samples",
    "plane_resolution",
    "plane_samples",
    "seed",
)
"""Options passed through to :class:`~landscape.pipelines.compare.CompareConfig`."""


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    required=True,
    help="Report folder: compare.h5, profiles/, figures/, index.html, report.md.",
)
@run_spec_options
@click.option(
    "--train-target",
    type=float,
    default=None,
    help="Training-loss level for convergence speed [default: median of the runs' best].",
)
@click.option(
    "--val-target",
    type=float,
    default=None,
    help="Validation-loss level for convergence speed [default: median of the runs' best].",
)
@click.option(
    "--curvature-samples",
    type=click.IntRange(min=2),
    default=1000,
    show_default=True,
    help="Training rows the Hessian is measured on.",
)
@click.option(
    "--max-checkpoints",
    type=click.IntRange(min=2),
    default=20,
    show_default=True,
    help="Epoch checkpoints per run that get λ_max (evenly spaced).",
)
@click.option(
    "--trace-probes",
    type=click.IntRange(min=2),
    default=50,
    show_default=True,
    help="Hutchinson probes for the Hessian trace at the end.",
)
@click.option(
    "--profile-grid",
    default="-1:1:21",
    show_default=True,
    help="Grid of the 1D filter-normalized profiles: START:STOP:NUM or a,b,c.",
)
@click.option(
    "--profile-radius",
    type=click.FloatRange(min=0, min_open=True),
    default=0.5,
    show_default=True,
    help="α at which the profile's rise is read.",
)
@click.option(
    "--profile-samples",
    type=click.IntRange(min=1),
    default=None,
    help="Rows per split for the profiles [default: as trained].",
)
@click.option("--no-profiles", is_flag=True, help="Skip the 1D profiles.")
@click.option(
    "--plane-resolution",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Grid points per axis of the training-loss surface under the paths (0: none).",
)
@click.option(
    "--plane-samples",
    type=click.IntRange(min=1),
    default=None,
    help="Training rows of that surface [default: as trained].",
)
@click.option(
    "--seed",
    type=SEED,
    default=0,
    show_default=True,
    help="Seed of Lanczos, trace probes and profile directions.",
)
@device_option
@click.option("--overwrite", is_flag=True, help="Replace cached results made with other settings.")
@click.pass_context
@verbosity_options
@limit_options
def command(
    ctx: click.Context,
    runs: tuple[str, ...],
    out: str,
    model_spec: str | None,
    data_spec: str | None,
    loss: str | None,
    trust_run_config: bool,
    **kw: object,
) -> None:
    """Compare training runs (directories written by 'landscape train') and write a report.

    Each of RUNS is a run directory or a group of seeds ('landscape train --seeds 0,1,2
    --out DIR' writes DIR/seed-0/, ...), labelled by the group directory's name. Every
    quantity is stated per contender as a mean with a 95% Student-t interval over its
    seeds; two contenders are said to differ only when Welch's t-test rejects equality
    after Holm's correction over all pairwise comparisons (the 'Findings' section and
    the 'findings' group of compare.h5).

    For each run: convergence speed to common loss targets, final training vs
    validation loss and accuracy, detected phases and problems, distance
    travelled, λ_max, trace and preconditioned sharpness against the
    optimizer's stability threshold, a 1D filter-normalized profile around
    the minimum, and all paths on one shared PCA plane. Re-running reuses
    everything already computed.

    A model, data or loss spec that names code ('module:callable') is taken
    from a run only when typed again with --model/--data/--loss, or with
    --trust-run-config: a file never chooses code to import.

    Example: landscape compare runs/sgd runs/adam runs/rmsprop --out report/

    Example: landscape compare groups/sgd groups/adam --out report/
    """
    progress = logs.configure(ctx)
    from landscape.pipelines.compare import CompareConfig, compare
    from landscape.report.document import write_report

    config = CompareConfig(**{k: kw[k] for k in CONFIG_OPTIONS})  # type: ignore[arg-type]
    comparison = compare(
        runs,
        out,
        config,
        model=model_spec,
        data=data_spec,
        loss=loss,
        trust_run_config=trust_run_config,
        device=str(kw["device"]),
        profiles=not kw["no_profiles"],
        overwrite=bool(kw["overwrite"]),
        progress=progress,
        command=command_line(),
    )
    files = write_report(comparison, out, run_dirs=comparison.config["runs"])
    if progress:
        for sentence in files.sentences:
            click.echo(f"- {sentence}")
    click.echo(f"report: {files.html} (also {files.markdown.name} and figures/)")
