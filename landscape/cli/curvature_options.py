"""Options and the run frame shared by ``landscape hessian`` and ``landscape sharpness``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from landscape.cli import logs, options

if TYPE_CHECKING:
    from landscape.distributed import Context
    from landscape.pipelines.curvature import Setup

seed_option = options.seed_option("Seed of the estimators' random vectors (start vectors, probes).")
"""``--seed`` of the estimators."""

dtype_option = options.choice_option(
    "--dtype",
    ("float32", "float64"),
    "float32",
    "Precision of the Hessian-vector products (float64: slower, exact to ~1e-12).",
)
"""``--dtype`` of the Hessian-vector products."""

tol_option = options.positive_option(
    "--tol", 1e-3, "Lanczos stops when ||Hv - λv|| <= tol |λ| for every wanted pair."
)
"""``--tol`` of Lanczos."""

matrix_options = options.stack_options(
    click.option(
        "--matrix",
        type=click.Choice(["hessian", "ggn", "fisher", "empirical-fisher"]),
        default="hessian",
        show_default=True,
        help="Curvature matrix: the Hessian, the generalized Gauss-Newton J^T H_out J, "
        "the Monte Carlo Fisher (targets drawn from the model) or the empirical Fisher.",
    ),
    click.option(
        "--fisher-samples",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Targets drawn per row for --matrix fisher (with --seed).",
    ),
)
"""``--matrix`` and ``--fisher-samples``: which curvature matrix the command measures."""

checkpoint_inputs = options.stack_options(
    options.model_options, options.data_options, options.task_options, options.output_options
)
"""What a curvature command measures and where it stores it (first in its help)."""

estimator_settings = options.stack_options(
    seed_option,
    click.option(
        "--data-seed",
        type=int,
        default=0,
        show_default=True,
        help="Seed of the --max-samples subset (apart from --seed, so the matrix stays the same).",
    ),
    dtype_option,
    click.pass_context,
    options.verbosity_options,
)
"""``--seed``, ``--data-seed``, ``--dtype``, ``-v``/``-q`` (last in its help); passes the context."""


def setup_from(kw: dict[str, Any], context: Context) -> Setup:
    """Load the objective and checkpoint named by the shared options, for this rank."""
    from landscape.pipelines.curvature import prepare

    return prepare(
        kw["model_spec"],
        kw["checkpoint"],
        kw["data_spec"],
        **options.forwarded(kw, "split max_samples batch_size loss device dtype trust_checkpoint"),
        seed=kw.get("data_seed", kw["seed"]),  # commands without --data-seed: as before
        context=context,
        **options.task_arguments(kw),
    )


@dataclass(frozen=True)
class CurvatureRun:
    """One rank's share of a curvature command.

    Attributes:
        setup: the loaded objective and checkpoint.
        progress: whether this rank shows progress and prints results.
        stored: the keyword arguments every curvature stage takes (``seed``, ``out``,
            ``overwrite``, ``progress``, ``command``).

    """

    setup: Setup
    progress: bool
    stored: dict[str, Any]


@contextlib.contextmanager
def curvature_run(
    ctx: click.Context, context: Context, kw: dict[str, Any], group: str
) -> Iterator[CurvatureRun]:
    """Load this rank's setup, and name the stored ``group`` when done.

    Args:
        ctx: the command's click context.
        context: this rank's distributed context (from :func:`options.in_rank_session`).
        kw: the parsed options.
        group: the HDF5 group the command writes (``curvature/hessian``, ...).

    Yields:
        This rank's :class:`CurvatureRun`.

    """
    progress = logs.configure(ctx) and context.is_main
    stored = {
        "seed": kw["seed"],
        "out": kw["out"],
        "overwrite": kw["overwrite"],
        "progress": progress,
        "command": options.command_line(),
    }
    yield CurvatureRun(setup_from(kw, context), progress, stored)
    if context.is_main:
        click.echo(f"{kw['out']}: {group}", err=not progress)
