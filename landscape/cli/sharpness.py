"""``landscape sharpness``: flatness and optimizer-aware curvature into ``curvature/sharpness``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from landscape.cli import options
from landscape.cli.curvature_options import (
    checkpoint_inputs,
    curvature_run,
    estimator_settings,
    matrix_options,
    tol_option,
)
from landscape.cli.limits import limit_options
from landscape.cli.options import choice_option, count_option, path_option, positive_option
from landscape.cli.threads import threads_option

if TYPE_CHECKING:
    from landscape.distributed import Context


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


SHARPNESS_OPTIONS = (
    "matrix fisher_samples tol trace_hvps epsilon rho steps samples pac_target pac_metric"
    " width_increase width_radius"
)
"""The options passed to :func:`~landscape.pipelines.sharpness.sharpness` under their own names."""


@click.command("sharpness")
@threads_option
@checkpoint_inputs
@click.option(
    "--measures", default=ALL, show_default=True, help="Comma list of measures to compute."
)
@matrix_options
@tol_option
@count_option("--trace-hvps", 99, "Matrix-vector products for the trace (Hutch++).", minimum=4)
@path_option(
    "--basis-on-disk",
    "Hold the Lanczos basis of lambda_max and the trace sketches in memory-mapped files "
    "in this folder (for what does not fit in memory; same results, removed when done).",
    folder=True,
)
@positive_option("--epsilon", 1e-3, "Keskar et al. 2017 box size ε.")
@positive_option("--rho", 0.1, "Radius of adaptive sharpness (scale c = |w|).")
@count_option("--steps", 20, "Ascent steps of adaptive worst-case sharpness.")
@count_option("--samples", 20, "Noise draws for average-case and PAC-Bayes.", minimum=2)
@positive_option("--pac-target", 0.1, "Allowed deviation for the PAC-Bayes σ' (Jiang et al. 2019).")
@choice_option(
    "--pac-metric",
    ("error", "loss"),
    "error",
    "What --pac-target bounds: the classification error or the loss.",
)
@positive_option(
    "--width-increase", 0.1, "Loss increase at which the filter-normalized 1D width is measured."
)
@positive_option(
    "--width-radius", 1.0, "The 1D width is searched within ±this distance along the direction."
)
@path_option(
    "--optimizer-state",
    "Checkpoint holding an 'optimizer' state dict (as landscape train saves) "
    "for preconditioned sharpness.",
)
@choice_option(
    "--optimizer-name",
    ("sgd", "adam", "adamw", "rmsprop", "adagrad"),
    None,
    "Optimizer of --optimizer-state when the file does not name it.",
)
@estimator_settings
@limit_options
def command(ctx: click.Context, context: Context, **kw: Any) -> None:
    """Sharpness of a checkpoint: λ_max, trace, Keskar, adaptive, PAC-Bayes, 1D width.

    With --optimizer-state, also the preconditioned sharpness λ_max(P^-1 H)
    of Adam/AdamW/RMSprop/Adagrad, the optimizer's stability threshold and
    the curvature along its next update. --matrix sets the H of λ_max, the
    trace, the preconditioned sharpness and the update curvature; the other
    measures perturb the loss itself. Re-running resumes.

    \b
    Example:
      landscape sharpness --model mlp --checkpoint final.pt --data mnist1d \\
          --optimizer-state final.pt --out curv.h5
    """  # noqa: D301 (\b and \\ are click's no-rewrap mark and a shell line break)
    from landscape.pipelines.sharpness import sharpness
    from landscape.training_checkpoint import load_optimizer_state

    with curvature_run(ctx, context, kw, "curvature/sharpness") as run:
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
            **options.forwarded(kw, SHARPNESS_OPTIONS),
            optimizer_state=opt,
            basis_dir=kw["basis_on_disk"],
            **run.stored,
        )
        if run.progress:
            for name, s in report.measures.items():
                click.echo(f"{name}: {s.value:.6g}{uncertainty(s)}")
