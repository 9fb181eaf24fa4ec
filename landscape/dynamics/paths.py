"""The ``trajectory/`` group of an HDF5 file: optimizer paths projected onto a plane.

Written by :func:`landscape.trajectory.compute_trajectory`, read by the
plotting code; this module uses h5py and numpy only. The group holds
datasets ``coords`` ``(n, 2)``, ``epochs``, ``steps``, ``run`` (index into
the ``labels`` attribute), ``residual``, ``explained_variance_ratio`` and
``singular_values``, a subgroup ``origin`` (the origin's parameters), and
attributes ``config`` (JSON), ``labels`` (JSON list of run names) and
``origin_run``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from landscape.errors import LandscapeError
from landscape.store import config_json, open_read, write_params

GROUP = "trajectory"


@dataclass(frozen=True)
class Trajectory:
    """Checkpoints projected onto a plane, for one or several runs.

    Attributes:
        coords: ``(n, 2)`` plane coordinates of every checkpoint.
        epochs: ``(n,)`` epoch of each checkpoint (-1 if unknown).
        steps: ``(n,)`` optimizer step of each checkpoint (-1 if unknown).
        run: ``(n,)`` index into ``labels`` of the run each point belongs to.
        labels: run names.
        residual: ``(n,)`` relative distance of each checkpoint from the plane,
            ``||x - proj(x)|| / ||x||`` with ``x = theta - origin`` (0 on the plane).
        explained_variance_ratio: of the plane's two directions.
        origin_label: the run whose end is the origin.

    """

    coords: np.ndarray
    epochs: np.ndarray
    steps: np.ndarray
    run: np.ndarray
    labels: tuple[str, ...]
    residual: np.ndarray
    explained_variance_ratio: np.ndarray
    origin_label: str


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
        g = f[GROUP]
        return Trajectory(
            coords=g["coords"][()],
            epochs=g["epochs"][()],
            steps=g["steps"][()],
            run=g["run"][()],
            labels=tuple(json.loads(g.attrs["labels"])),
            residual=g["residual"][()],
            explained_variance_ratio=g["explained_variance_ratio"][()],
            origin_label=str(g.attrs["origin_run"]),
        )
