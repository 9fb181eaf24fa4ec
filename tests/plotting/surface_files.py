"""A surface file written by hand, as ``landscape surface`` lays it out, for the plotting tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np


def write_surface(
    path: Path,
    values: Mapping[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    directions: Mapping[str, str] | None = None,
    done: np.ndarray | None = None,
) -> Path:
    """Write ``values`` (metric -> ``(ny, nx)`` or ``(nx,)`` array) over ``x`` and ``y`` to ``path``.

    ``done`` defaults to the points where every metric is finite; the directions group holds
    only the attributes ``directions`` (default ``kind="random"``).
    """
    with h5py.File(path, "w") as f:
        f.attrs["schema_version"] = 1
        f["xcoordinates"] = x
        if y is not None:
            f["ycoordinates"] = y
        for k, v in values.items():
            f[k] = v
        g = f.create_group("surface")
        g.attrs["metrics"] = json.dumps(list(values))
        g["done"] = (
            np.logical_and.reduce([np.isfinite(v) for v in values.values()])
            if done is None
            else done
        )
        f.create_group("directions").attrs.update(directions or {"kind": "random"})
    return path
