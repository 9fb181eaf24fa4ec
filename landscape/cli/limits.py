"""``--max-grid-points``, ``--max-read-mb``, ``--follow-external-links``: the safety limits per command.

One decorator, :data:`limit_options`, gives every command the three options
of :mod:`landscape.limits`; each given option holds for that command only (the
environment variables stay the defaults).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from landscape import limits
from landscape.cli.options import stack_options


def _put_in_force(limit: str, scale: float = 1) -> Callable[[click.Context, Any, Any], None]:
    """A callback putting a given value (times ``scale``) in force as ``limit`` for the command."""

    def callback(ctx: click.Context, param: Any, value: Any) -> None:
        if value is not None and value is not False:
            given = value if isinstance(value, bool) else int(value * scale)
            ctx.with_resource(limits.override(**{limit: given}))

    return callback


limit_options = stack_options(
    click.option(
        limits.MAX_GRID_OPTION,
        "max_grid_points",
        type=click.IntRange(min=1),
        default=None,
        expose_value=False,
        callback=_put_in_force("max_grid_points"),
        help=f"Most points a grid may have [{limits.MAX_GRID_ENV} or {limits.MAX_GRID_POINTS}].",
    ),
    click.option(
        limits.MAX_READ_OPTION,
        "max_read_mb",
        type=click.FloatRange(min=0),
        default=None,
        expose_value=False,
        callback=_put_in_force("max_unstored_bytes", 2**20),
        help="Most MiB an HDF5 dataset may declare beyond what it stores "
        f"[{limits.MAX_UNSTORED_ENV} (bytes) or {limits.MAX_UNSTORED_BYTES >> 20}].",
    ),
    click.option(
        limits.FOLLOW_EXTERNAL_OPTION,
        "follow_external_links",
        is_flag=True,
        default=False,
        expose_value=False,
        callback=_put_in_force("follow_external_links"),
        help="Let files that are only read follow external links and virtual datasets into "
        f"other files [{limits.FOLLOW_EXTERNAL_ENV}=1].",
    ),
)
"""The three limit options, each holding for the command it is given to."""
