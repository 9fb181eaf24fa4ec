"""The ``trajectory/`` group: optimizer paths projected onto a plane.

Written by :func:`landscape.pipelines.trajectory.compute_trajectory`, read by the
plotting code. The group holds datasets ``coords`` ``(n, 2)``, ``epochs``,
``steps``, ``run`` (index into the ``labels`` attribute), ``residual``,
``explained_variance_ratio`` and ``singular_values``, a subgroup ``origin``
(the origin's parameters), and attributes ``config`` (JSON), ``labels`` (JSON
list of run names) and ``origin_run``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from landscape.errors import LandscapeError
from landscape.records import Trajectory
from landscape.store import config_json, open_read, write_params

GROUP = "trajectory"


def write_trajectory(
    f: h5py.File,
    traj: Trajectory,
    *,
    config: Mapping[str, Any],
    singular_values: np.ndarray,
    origin: Mapping[str, np.ndarray],
) -> None:
    """Write (or replace) the ``trajectory/`` group of an open file."""
    if GROUP in f:
        del f[GROUP]
    g = f.create_group(GROUP)
    g.attrs["config"] = config_json(config)
    g.attrs["labels"] = json.dumps(list(traj.labels))
    g.attrs["origin_run"] = traj.origin_label
    for name in ("coords", "epochs", "steps", "run", "residual", "explained_variance_ratio"):
        g.create_dataset(name, data=getattr(traj, name))
    g.create_dataset("singular_values", data=np.asarray(singular_values))
    write_params(g, "origin", origin)


def read_trajectory(path: str | Path) -> Trajectory:
    """Read the ``trajectory/`` group of a file.

    Raises:
        LandscapeError: if the file has no trajectory.

    """
    with open_read(path) as f:
        if GROUP not in f:
            raise LandscapeError(
                f"{path}: no '{GROUP}' group; expected a file from 'landscape trajectory'"
            )
        return read_group(f[GROUP])


def read_group(g: h5py.Group) -> Trajectory:
    """A ``trajectory/`` group in either layout.

    ``landscape trajectory`` writes ``epochs``, ``steps`` and ``origin_run``;
    ``compare.h5`` writes ``epoch``, ``step``, ``lambda_max``, ``origin_label``
    and, optionally, ``surface`` (see :mod:`landscape.io.compare`).
    """
    compare = "epoch" in g
    return Trajectory(
        coords=g["coords"][()],
        epochs=g["epoch" if compare else "epochs"][()],
        steps=g["step" if compare else "steps"][()],
        run=g["run"][()],
        labels=tuple(json.loads(g.attrs["labels"])),
        residual=g["residual"][()],
        explained_variance_ratio=g["explained_variance_ratio"][()],
        origin_label=str(g.attrs["origin_label" if compare else "origin_run"]),
        lambda_max=g["lambda_max"][()] if "lambda_max" in g else None,
        surface=str(g.attrs["surface"]) if "surface" in g.attrs else None,
    )
