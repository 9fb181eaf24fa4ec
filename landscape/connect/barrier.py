"""The loss barrier along a path between two solutions (numpy only).

Frankle et al. 2020 ("Linear Mode Connectivity and the Lottery Ticket Hypothesis") call two
solutions ``A`` and ``B`` linearly connected when the loss along the line between them never
rises above the line between their losses. The barrier of a path ``theta(t)``, ``t in [0, 1]``,
with ``theta(0) = A`` and ``theta(1) = B`` is

    B = max_t  L(theta(t)) - ((1 - t) L(A) + t L(B)),

measured on a grid of ``t`` that includes both ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape.errors import LandscapeError

MIN_POINTS = 3
"""Fewest points on a path: both ends and one point between them."""


@dataclass(frozen=True)
class Barrier:
    """The barrier of a path and where it lies.

    Attributes:
        height: ``max_t L(theta(t)) - ((1 - t) L(A) + t L(B))`` (0 at the ends, so never
            negative on a grid that includes them).
        t: the ``t`` of the maximum.

    """

    height: float
    t: float


def check_grid(t: np.ndarray) -> None:
    """Refuse a ``t`` grid that is too short, unsorted or does not run from 0 to 1.

    Raises:
        LandscapeError: naming what was wrong.

    """
    if len(t) < MIN_POINTS:
        raise LandscapeError(
            f"points: a path needs at least {MIN_POINTS} points, both ends included (got {len(t)})"
        )
    if t[0] != 0.0 or t[-1] != 1.0 or np.any(np.diff(t) <= 0):
        raise LandscapeError("points: expected increasing t from 0 to 1 along the path")


def loss_barrier(t: np.ndarray, loss: np.ndarray) -> Barrier:
    """Barrier of the losses ``loss[i] = L(theta(t[i]))`` on a grid from 0 to 1.

    Args:
        t: increasing grid with ``t[0] = 0`` and ``t[-1] = 1``.
        loss: loss at each ``t``; NaN (not finite) points are refused.

    Returns:
        The :class:`Barrier` (Frankle et al. 2020).

    Raises:
        LandscapeError: for a bad grid or a non-finite loss.

    >>> loss_barrier(np.array([0.0, 0.5, 1.0]), np.array([1.0, 3.0, 2.0]))
    Barrier(height=1.5, t=0.5)
    """
    t = np.asarray(t, dtype=np.float64)
    loss = np.asarray(loss, dtype=np.float64)
    check_grid(t)
    if loss.shape != t.shape:
        raise LandscapeError(f"barrier: {len(loss)} losses for {len(t)} points")
    if not np.all(np.isfinite(loss)):
        raise LandscapeError("barrier: the loss is not finite at every point of the path")
    excess = loss - ((1.0 - t) * loss[0] + t * loss[-1])
    i = int(np.argmax(excess))
    return Barrier(float(excess[i]), float(t[i]))
