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
from landscape.cli.options import F, stack_options


def _limit_option(
    flag: str, limit: str, help: str, *, scale: float = 1, **kind: Any
) -> Callable[[F], F]:
    """An option that, when given, puts its value (times ``scale``) in force as ``limit``.

    The value is not passed to the command: it holds for the command's run only,
    through :func:`landscape.limits.override`; ``kind`` is click's type or ``is_flag``.
    """

    def put_in_force(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None and value is not False:
            given = value if isinstance(value, bool) else int(value * scale)
            ctx.with_resource(limits.override(**{limit: given}))

    return click.option(flag, expose_value=False, callback=put_in_force, help=help, **kind)


limit_options = stack_options(
    _limit_option(
        limits.MAX_GRID_OPTION,
        "max_grid_points",
        f"Most points a grid may have [{limits.MAX_GRID_ENV} or {limits.MAX_GRID_POINTS}].",
        type=click.IntRange(min=1),
    ),
    _limit_option(
        limits.MAX_READ_OPTION,
        "max_unstored_bytes",
        "Most MiB an HDF5 dataset may declare beyond what it stores "
        f"[{limits.MAX_UNSTORED_ENV} (bytes) or {limits.MAX_UNSTORED_BYTES >> 20}].",
        scale=2**20,
        type=click.FloatRange(min=0),
    ),
    _limit_option(
        limits.FOLLOW_EXTERNAL_OPTION,
        "follow_external_links",
        "Let files that are only read follow external links and virtual datasets into "
        f"other files [{limits.FOLLOW_EXTERNAL_ENV}=1].",
        is_flag=True,
    ),
)
"""The three limit options, each holding for the command it is given to."""
