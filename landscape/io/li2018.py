"""Files written by the reference code of Li et al. 2018 (github tomgoldstein/loss-landscape).

Their surface files hold the same root dataset names as ours (``xcoordinates``,
``ycoordinates``, ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``)
but no attributes, no ``surface/`` group and ``-1`` for "not computed". Their
writer allocates an ``(nx, ny)`` array but fills it by a flat index over
``meshgrid(x, y)``, whose order is ``[iy, ix]``; a non-square array of that
shape is therefore read back by reinterpreting its flat order as ``(ny, nx)``,
which is what their writer meant.
"""

from __future__ import annotations

import h5py
import numpy as np

MISSING = -1.0
"""The value the Li et al. code stores for a point it has not computed."""


def is_li2018(f: h5py.File) -> bool:
    """The one rule: a root ``xcoordinates`` dataset, no ``schema_version``, no ``surface/``."""
    return (
        isinstance(f.get("xcoordinates"), h5py.Dataset)
        and "schema_version" not in f.attrs
        and "surface" not in f
    )


def accepted_shapes(shape: tuple[int, ...]) -> set[tuple[int, ...]]:
    """Shapes their metric of a ``shape`` grid may have: ``(ny, nx)`` or their ``(nx, ny)``."""
    return {shape, shape[::-1]}


def decode(z: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Their stored metric as ours: indexed ``[iy, ix]`` and NaN where not computed.

    >>> decode(np.array([[1.0, 2.0, 3.0], [-1.0, 5.0, 6.0]]), (3, 2)).tolist()
    [[1.0, 2.0], [3.0, nan], [5.0, 6.0]]
    """
    z = np.asarray(z, dtype=np.float64)
    if z.shape != shape and z.size == int(np.prod(shape)):
        z = z.reshape(shape)  # their (nx, ny) array is filled in [iy, ix] flat order
    return np.where(z == MISSING, np.nan, z)
