"""``landscape diagnose``: print (and store) the phases and problems of a training run."""

from __future__ import annotations

import json
from collections.abc import Callable

import click

from landscape.cli.limits import limit_options
from landscape.cli.options import F, quiet, verbosity_options
from landscape.cli.threads import threads_option
from landscape.errors import LandscapeError


def _fraction_option(flag: str, default: float, what: str, meaning: str) -> Callable[[F], F]:
    """An option for a fraction of the total loss gain, in ``(0, 1]``."""
    return click.option(
        flag,
        type=click.FloatRange(0, 1, min_open=True),
        default=default,
        show_default=True,
        help=f"{what} (fraction of the total) {meaning}.",
    )


@click.command(name="diagnose")
@threads_option
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the diagnosis as JSON.")
@click.option("--no-store", is_flag=True, help="Do not write the diagnosis into RUN_DIR/run.h5.")
@_fraction_option("--fast-rate", 0.05, "Per-epoch gain", "that counts as fast learning")
@_fraction_option("--converged-tol", 0.01, "Remaining gain", "below which training has converged")
@click.pass_context
@verbosity_options
@limit_options
def command(
    ctx: click.Context,
    *,
    run_dir: str,
    as_json: bool,
    no_store: bool,
    fast_rate: float,
    converged_tol: float,
) -> None:
    """Detect training phases, overfitting, exploding/vanishing gradients, divergence and plateaus.

    RUN_DIR is a directory written by 'landscape train' or a Recorder. The
    result is printed and stored in RUN_DIR/run.h5 (group dynamics/diagnosis).
    """
    from landscape.dynamics.diagnose import Thresholds, diagnose, store_diagnosis
    from landscape.dynamics.runs import read_run

    run = read_run(run_dir)
    result = diagnose(run, Thresholds(fast_rate=fast_rate, converged_tol=converged_tol))
    stored = None
    if not no_store:
        try:
            store_diagnosis(run_dir, result)
            stored = f"stored in {run.path / 'run.h5'} (dynamics/diagnosis)"
        except LandscapeError as exc:  # the run is still training: print, do not store
            stored = f"not stored: {exc}"
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    opt = (
        f"{run.optimizer}, lr {run.hparams.get('lr', float('nan')):g}"
        if run.optimizer
        else "optimizer unknown"
    )
    click.echo(f"{run_dir}: {run.num_epochs} epochs ({opt})")
    for line in result.lines():
        click.echo(line)
    if stored is not None and not quiet(ctx):
        click.echo(stored, err=True)
