"""The safety limits on what an input may make the program do, and how a user lifts them.

Three limits guard against crafted or mistaken input: the most points a grid
may have (its arrays are allocated before it runs), the most bytes an HDF5
dataset may declare beyond what it stores (a 23 kB file declaring 1 GB), and
whether a file that is only read may follow external links and virtual
datasets into other files. Each is read, in this order, from an
:func:`override` in force (what the CLI's ``--max-grid-points``,
``--max-read-mb`` and ``--follow-external-links`` set for one command), from
its environment variable, or from its default. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from landscape.errors import LandscapeError

MAX_GRID_POINTS = 1_000_000
"""The most points a whole grid may have by default."""
MAX_GRID_ENV = "LANDSCAPE_MAX_GRID_POINTS"
"""Environment variable that sets the grid limit (a number of points)."""
MAX_GRID_OPTION = "--max-grid-points"
"""The CLI option that sets it for one command."""

MAX_UNSTORED_BYTES = 64 << 20
"""How many bytes a dataset may declare beyond the bytes it stores, by default (64 MiB)."""
MAX_UNSTORED_ENV = "LANDSCAPE_MAX_UNSTORED_BYTES"
"""Environment variable that sets that limit (a number of bytes)."""
MAX_READ_OPTION = "--max-read-mb"
"""The CLI option that sets it for one command (in MiB)."""

FOLLOW_EXTERNAL_ENV = "LANDSCAPE_FOLLOW_EXTERNAL_LINKS"
"""Set to ``1`` to let files that are only read follow external links and virtual datasets."""
FOLLOW_EXTERNAL_OPTION = "--follow-external-links"
"""The CLI flag that allows it for one command."""


@dataclass(frozen=True)
class Limits:
    """The limits in force.

    Attributes:
        max_grid_points: the most points a grid may have.
        max_unstored_bytes: the most bytes a dataset may declare beyond what it stores.
        follow_external_links: whether a file that is only read may reach other files.
    """

    max_grid_points: int
    max_unstored_bytes: int
    follow_external_links: bool


_overrides: dict[str, int | bool] = {}


def current() -> Limits:
    """The limits in force now: an :func:`override`, else the environment, else the default.

    Raises:
        LandscapeError: if an environment variable is not a number.

    """
    grid = _overrides.get("max_grid_points")
    unstored = _overrides.get("max_unstored_bytes")
    follow = _overrides.get("follow_external_links")
    return Limits(
        max_grid_points=int(grid) if grid is not None else _env_int(MAX_GRID_ENV, MAX_GRID_POINTS),
        max_unstored_bytes=(
            int(unstored)
            if unstored is not None
            else _env_int(MAX_UNSTORED_ENV, MAX_UNSTORED_BYTES)
        ),
        follow_external_links=bool(follow) or os.environ.get(FOLLOW_EXTERNAL_ENV, "") == "1",
    )


@contextlib.contextmanager
def override(
    *,
    max_grid_points: int | None = None,
    max_unstored_bytes: int | None = None,
    follow_external_links: bool | None = None,
) -> Iterator[None]:
    """Set limits for the block (``None``: leave that one as it is); restored afterwards.

    >>> with override(max_grid_points=10):
    ...     current().max_grid_points
    10
    """
    given = {
        "max_grid_points": max_grid_points,
        "max_unstored_bytes": max_unstored_bytes,
        "follow_external_links": follow_external_links,
    }
    before = dict(_overrides)
    _overrides.update({k: v for k, v in given.items() if v is not None})
    try:
        yield
    finally:
        _overrides.clear()
        _overrides.update(before)


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "")
    try:
        return int(text) if text else default
    except ValueError:
        raise LandscapeError(f"{name}: expected a whole number (got {text!r})") from None
