"""Arithmetic on a run's measured curves that the comparison summarises.

The records of a comparison live in :mod:`landscape.records` and their
HDF5 form in :mod:`landscape.io.compare`.
"""

from __future__ import annotations

import numpy as np


def first_reached(values: np.ndarray, target: float) -> int | None:
    """Index of the first finite value at or below ``target``, or ``None``.

    >>> first_reached(np.array([3.0, np.nan, 1.5, 0.9]), 1.5)
    2
    """
    hits = np.flatnonzero(np.isfinite(values) & (values <= target))
    return int(hits[0]) if hits.size else None
