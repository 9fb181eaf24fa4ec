"""``landscape compare``: why several training runs converged differently, as a report."""

from __future__ import annotations

import click

from landscape.cli import logs
from landscape.cli.options import (
    SEED,
    command_line,
    device_option,
    run_spec_options,
    verbosity_options,
)
from landscape.cli.threads import threads_option

CONFIG_OPTIONS = (
    "train_target",
    "val_target",
    "target_loss",
    "target_fraction",
    "matched_loss",
    "curvature_samples",
    "sharpness_batches",
    "max_checkpoints",
    "trace_probes",
    "spectrum_k",
    "density_runs",
    "density_steps",
    "edge_records",
    "profile_grid",
    "profile_radius",
    "profile_samples",
    "plane_resolution",
    "plane_samples",
    "seed",
)
"""Options passed through to :class:`~landscape.pipelines.compare.CompareConfig`."""


@click.command("compare")
@threads_option
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
    help="Training-loss level for convergence speed [default: --target-loss, else "
    "--target-fraction x the runs' median initial training loss].",
)
@click.option(
    "--val-target",
    type=float,
    default=None,
    help="Validation-loss level for convergence speed [default: as for training].",
)
@click.option(
    "--target-loss",
    type=float,
    default=None,
    help="One loss level for both convergence targets.",
)
@click.option(
    "--target-fraction",
    type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
    help="Default targets: this fraction of the runs' median initial loss.",
)
@click.option(
    "--matched-loss",
    type=float,
    default=None,
    help="Training-loss level at which λ_max is also compared [default: the largest of the "
    "runs' lowest training losses at the measured checkpoints].",
)
@click.option(
    "--curvature-samples",
    type=click.IntRange(min=2),
    default=1000,
    show_default=True,
    help="Training rows the Hessian is measured on (the first rows; all when fewer).",
)
@click.option(
    "--sharpness-batches",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="Disjoint sub-samples of those rows for λ_max's batch-means standard error (0: none).",
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
    "--spectrum-k",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Top Hessian eigenvalues at each run's last checkpoint (0: none).",
)
@click.option(
    "--density-runs",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="SLQ start vectors of the spectral density there (0: no density).",
)
@click.option(
    "--density-steps",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Lanczos steps per SLQ start vector.",
)
@click.option(
    "--edge-records",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Consecutive sharpness records at the threshold that count as a stay at the edge.",
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

    For each run: convergence speed to common loss targets (half the median
    initial loss unless set), final training vs validation loss and accuracy,
    detected phases and problems, distance travelled, weight norms, λ_max (on
    a stated sample, with a batch-means standard error; also at a matched
    training loss), trace, the Hessian spectrum at the end, preconditioned
    sharpness against the optimizer's stability threshold and how long the run
    sat at that edge, a 1D filter-normalized profile around the minimum, and
    all paths on one shared PCA plane. Re-running reuses everything already
    computed.

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
