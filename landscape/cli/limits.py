"""``--max-grid-points``, ``--max-read-mb``, ``--follow-external-links``: the safety limits per command.

One decorator, :data:`limit_options`, gives every command the three options
of :mod:`landscape.limits`; each given option holds for that command only (the
environment variables stay the defaults).
"""

from __future__ import annotations

from typing import Any

import click

from landscape import limits
from landscape.cli.options import stack_options


def _apply(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Put a given limit in force until the command's context closes."""
    if value is None or value is False:
        return
    name = {
        "max_grid_points": "max_grid_points",
        "max_read_mb": "max_unstored_bytes",
        "follow_external_links": "follow_external_links",
    }[str(param.name)]
    if name == "max_unstored_bytes":
        value = int(value * 2**20)
    ctx.with_resource(limits.override(**{name: value}))


limit_options = stack_options(
    click.option(
        limits.MAX_GRID_OPTION,
        "max_grid_points",
        type=click.IntRange(min=1),
        default=None,
        expose_value=False,
        callback=_apply,
        help=f"Most points a grid may have [{limits.MAX_GRID_ENV} or {limits.MAX_GRID_POINTS}].",
    ),
    click.option(
        limits.MAX_READ_OPTION,
        "max_read_mb",
        type=click.FloatRange(min=0),
        default=None,
        expose_value=False,
        callback=_apply,
        help="Most MiB an HDF5 dataset may declare beyond what it stores "
        f"[{limits.MAX_UNSTORED_ENV} (bytes) or {limits.MAX_UNSTORED_BYTES >> 20}].",
    ),
    click.option(
        limits.FOLLOW_EXTERNAL_OPTION,
        "follow_external_links",
        is_flag=True,
        default=False,
        expose_value=False,
        callback=_apply,
        help="Let files that are only read follow external links and virtual datasets into "
        f"other files [{limits.FOLLOW_EXTERNAL_ENV}=1].",
    ),
)
"""The three limit options, each holding for the command it is given to."""
