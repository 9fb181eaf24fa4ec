"""``landscape compare``: why several training runs converged differently, as a report."""

from __future__ import annotations

from dataclasses import fields

import click

from landscape.cli import logs
from landscape.cli.limits import limit_options
from landscape.cli.options import (
    command_line,
    count_option,
    device_option,
    number_option,
    overwrite_option,
    path_option,
    positive_option,
    run_spec_options,
    seed_option,
    verbosity_options,
)
from landscape.cli.threads import threads_option


@click.command("compare")
@threads_option
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@path_option(
    "--out",
    "Report folder: compare.h5, profiles/, figures/, index.html, report.md.",
    folder=True,
    required=True,
)
@run_spec_options
@number_option(
    "--train-target",
    None,
    "Training-loss level for convergence speed [default: --target-loss, else "
    "--target-fraction x the runs' median initial training loss].",
)
@number_option(
    "--val-target", None, "Validation-loss level for convergence speed [default: as for training]."
)
@number_option("--target-loss", None, "One loss level for both convergence targets.")
@click.option(
    "--target-fraction",
    type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
    help="Default targets: this fraction of the runs' median initial loss.",
)
@number_option(
    "--matched-loss",
    None,
    "Training-loss level at which λ_max is also compared [default: the largest of the "
    "runs' lowest training losses at the measured checkpoints].",
)
@count_option(
    "--curvature-samples",
    1000,
    "Training rows the Hessian is measured on (the first rows; all when fewer).",
    minimum=2,
)
@count_option(
    "--sharpness-batches",
    4,
    "Disjoint sub-samples of those rows for λ_max's batch-means standard error (0: none).",
    minimum=0,
)
@count_option(
    "--max-checkpoints", 20, "Epoch checkpoints per run that get λ_max (evenly spaced).", minimum=2
)
@count_option(
    "--trace-probes", 50, "Hutchinson probes for the Hessian trace at the end.", minimum=2
)
@count_option(
    "--spectrum-k", 3, "Top Hessian eigenvalues at each run's last checkpoint (0: none).", minimum=0
)
@count_option(
    "--density-runs",
    2,
    "SLQ start vectors of the spectral density there (0: no density).",
    minimum=0,
)
@count_option("--density-steps", 30, "Lanczos steps per SLQ start vector.")
@count_option(
    "--edge-records",
    3,
    "Consecutive sharpness records at the threshold that count as a stay at the edge.",
)
@click.option(
    "--profile-grid",
    default="-1:1:21",
    show_default=True,
    help="Grid of the 1D filter-normalized profiles: START:STOP:NUM or a,b,c.",
)
@positive_option("--profile-radius", 0.5, "α at which the profile's rise is read.")
@count_option("--profile-samples", None, "Rows per split for the profiles [default: as trained].")
@click.option("--no-profiles", is_flag=True, help="Skip the 1D profiles.")
@count_option(
    "--plane-resolution",
    0,
    "Grid points per axis of the training-loss surface under the paths (0: none).",
    minimum=0,
)
@count_option("--plane-samples", None, "Training rows of that surface [default: as trained].")
@seed_option("Seed of Lanczos, trace probes and profile directions.")
@device_option
@overwrite_option("Replace cached results made with other settings.")
@click.pass_context
@verbosity_options
@limit_options
def command(
    ctx: click.Context,
    *,
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

    settings = {f.name: kw[f.name] for f in fields(CompareConfig) if f.name in kw}
    config = CompareConfig(**settings)  # type: ignore[arg-type]
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
