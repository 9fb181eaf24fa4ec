"""Grid specifications: ``START:STOP:NUM`` ranges or explicit comma lists."""

from __future__ import annotations

import math

import numpy as np

from landscape import limits
from landscape.errors import LandscapeError
from landscape.limits import MAX_GRID_ENV as MAX_GRID_ENV
from landscape.limits import MAX_GRID_POINTS as MAX_GRID_POINTS

MAX_POINTS = 100_000
"""The most values one axis may have."""


def parse_grid(spec: str, *, name: str = "grid") -> np.ndarray:
    """Parse ``START:STOP:NUM`` (NUM evenly spaced values, ends included) or ``a,b,c``.

    Args:
        spec: the text given by the user.
        name: the option name for error messages.

    Returns:
        A 1-D float64 array of strictly increasing coordinates.

    Raises:
        LandscapeError: for malformed text, non-finite values, NUM < 1,
            START >= STOP with NUM > 1, or unsorted/duplicate list entries.

    >>> parse_grid("-1:1:5").tolist()
    [-1.0, -0.5, 0.0, 0.5, 1.0]
    >>> parse_grid("0, 0.5,2").tolist()
    [0.0, 0.5, 2.0]

    """
    text = spec.strip()
    expected = f"{name}: expected START:STOP:NUM (e.g. -1:1:51) or a comma list (e.g. 0,0.5,1); got {spec!r}"
    if not text:
        raise LandscapeError(expected)
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise LandscapeError(expected)
        try:
            start, stop = float(parts[0]), float(parts[1])
            num = int(parts[2])
        except ValueError:
            raise LandscapeError(expected) from None
        if not (math.isfinite(start) and math.isfinite(stop)):
            raise LandscapeError(f"{name}: START and STOP must be finite (got {spec!r})")
        if num < 1 or num > MAX_POINTS:
            raise LandscapeError(f"{name}: NUM must be between 1 and {MAX_POINTS} (got {num})")
        if num > 1 and not start < stop:
            raise LandscapeError(f"{name}: START must be below STOP (got {spec!r})")
        values = np.linspace(start, stop, num) if num > 1 else np.array([start])
        if not np.isfinite(values).all() or np.any(np.diff(values) <= 0):
            raise LandscapeError(
                f"{name}: {spec!r} gives values float64 cannot hold or tell apart "
                "(range too wide or too narrow)"
            )
        return values
    try:
        values = np.array([float(v) for v in text.split(",")], dtype=np.float64)
    except ValueError:
        raise LandscapeError(expected) from None
    if not np.isfinite(values).all():
        raise LandscapeError(f"{name}: values must be finite (got {spec!r})")
    if len(values) > MAX_POINTS:
        raise LandscapeError(f"{name}: at most {MAX_POINTS} values (got {len(values)})")
    if np.any(np.diff(values) <= 0):
        raise LandscapeError(f"{name}: list values must be strictly increasing (got {spec!r})")
    return values


def check_grid_size(shape: tuple[int, ...], *, name: str = "grid") -> None:
    """Refuse a grid of more than :data:`MAX_GRID_POINTS` points before anything is allocated.

    ``--max-grid-points`` or ``LANDSCAPE_MAX_GRID_POINTS`` lifts the limit.

    >>> check_grid_size((51, 51))
    >>> check_grid_size((100_000, 100_000))
    Traceback (most recent call last):
    landscape.errors.LandscapeError: grid: 100000 x 100000 = 10000000000 points is above the limit ...

    Raises:
        LandscapeError: naming the size, the limit and the option that lifts it.

    """
    limit = limits.current().max_grid_points
    points = math.prod(shape)
    if points > limit:
        raise LandscapeError(
            f"{name}: {' x '.join(map(str, shape))} = {points} points is above the limit of "
            f"{limit} (pass {limits.MAX_GRID_OPTION} or set {MAX_GRID_ENV} to lift it)"
        )
