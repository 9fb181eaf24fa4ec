"""``landscape sharpness``: flatness and optimizer-aware curvature into ``curvature/sharpness``."""

from __future__ import annotations

from typing import Any

import click

from landscape.cli.curvature_options import (
    checkpoint_inputs,
    curvature_run,
    estimator_settings,
    tol_option,
)
from landscape.cli.limits import limit_options


def uncertainty(s: Any) -> str:
    """`` ± standard error`` or `` (error bound e)`` of a measure, or nothing.

    >>> from landscape.curvature.sharpness import Sharpness
    >>> uncertainty(Sharpness("trace", 4.0, 0.25)), uncertainty(Sharpness("keskar", 1.0))
    (' ± 0.25 (standard error)', '')
    >>> uncertainty(Sharpness("lambda_max", 39.1, settings={"error_bound": 7e-6}))
    ' (error bound 7e-06)'
    """
    if s.std_error == s.std_error:
        return f" ± {s.std_error:.2g} (standard error)"
    if "error_bound" in s.settings:
        return f" (error bound {s.settings['error_bound']:.2g})"
    return ""


ALL = "lambda_max,trace,keskar,adaptive_worst,adaptive_average,pac_bayes_sigma,filter_width"


@click.command("sharpness")
@checkpoint_inputs
@click.option(
    "--measures", default=ALL, show_default=True, help="Comma list of measures to compute."
)
@tol_option
@click.option(
    "--trace-hvps",
    type=click.IntRange(min=4),
    default=99,
    show_default=True,
    help="Hessian-vector products for the trace (Hutch++).",
)
@click.option(
    "--epsilon",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-3,
    show_default=True,
    help="Keskar et al. 2017 box size ε.",
)
@click.option(
    "--rho",
    type=click.FloatRange(min=0, min_open=True),
    default=0.1,
    show_default=True,
    help="Radius of adaptive sharpness (scale c = |w|).",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Ascent steps of adaptive worst-case sharpness.",
)
@click.option(
    "--samples",
    type=click.IntRange(min=2),
    default=20,
    show_default=True,
    help="Noise draws for average-case and PAC-Bayes.",
)
@click.option(
    "--pac-target",
    type=click.FloatRange(min=0, min_open=True),
    default=0.1,
    show_default=True,
    help="Allowed deviation for the PAC-Bayes σ' (Jiang et al. 2019).",
)
@click.option(
    "--pac-metric",
    type=click.Choice(["error", "loss"]),
    default="error",
    show_default=True,
    help="What --pac-target bounds: the classification error or the loss.",
)
@click.option(
    "--width-increase",
    type=click.FloatRange(min=0, min_open=True),
    default=0.1,
    show_default=True,
    help="Loss increase at which the filter-normalized 1D width is measured.",
)
@click.option(
    "--width-radius",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="The 1D width is searched within ±this distance along the direction.",
)
@click.option(
    "--optimizer-state",
    type=click.Path(dir_okay=False),
    default=None,
    help="Checkpoint holding an 'optimizer' state dict (as landscape train saves) "
    "for preconditioned sharpness.",
)
@click.option(
    "--optimizer-name",
    type=click.Choice(["sgd", "adam", "adamw", "rmsprop", "adagrad"]),
    default=None,
    help="Optimizer of --optimizer-state when the file does not name it.",
)
@estimator_settings
@limit_options
def command(ctx: click.Context, **kw: Any) -> None:
    """Sharpness of a checkpoint: λ_max, trace, Keskar, adaptive, PAC-Bayes, 1D width.

    With --optimizer-state, also the preconditioned sharpness λ_max(P^-1 H)
    of Adam/AdamW/RMSprop/Adagrad, the optimizer's stability threshold and
    the curvature along its next update. Re-running resumes.

    \b
    Example:
      landscape sharpness --model mlp --checkpoint final.pt --data mnist1d \\
          --optimizer-state final.pt --out curv.h5
    """  # noqa: D301 (\b and \\ are click's no-rewrap mark and a shell line break)
    from landscape.curvature.api import sharpness
    from landscape.training_checkpoint import load_optimizer_state

    with curvature_run(ctx, kw, "curvature/sharpness") as run:
        measures = [m.strip() for m in kw["measures"].split(",") if m.strip()]
        opt = None
        if kw["optimizer_state"] is not None:
            opt = load_optimizer_state(
                kw["optimizer_state"],
                kw["model_spec"],
                name=kw["optimizer_name"],
                trust=kw["trust_checkpoint"],
            )
        report = sharpness(
            run.setup,
            measures=measures,
            tol=kw["tol"],
            trace_hvps=kw["trace_hvps"],
            epsilon=kw["epsilon"],
            rho=kw["rho"],
            steps=kw["steps"],
            samples=kw["samples"],
            pac_target=kw["pac_target"],
            pac_metric=kw["pac_metric"],
            width_increase=kw["width_increase"],
            width_radius=kw["width_radius"],
            optimizer_state=opt,
            **run.stored,
        )
        if run.progress:
            for name, s in report.measures.items():
                click.echo(f"{name}: {s.value:.6g}{uncertainty(s)}")
