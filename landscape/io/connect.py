"""The ``connect/`` group: loss along paths between two checkpoints, barriers, alignment, curve.

Layout (h5py and numpy only)::

    connect/                 @config (JSON), @paths, @metrics, @checkpoint, @target,
                             @<path>_barrier, @<path>_barrier_t (train split),
                             @<path>_test_barrier, @<path>_test_barrier_t
    connect/t                (P,) the grid of t from 0 to 1
    connect/<path>/<metric>  (P,) train_loss, train_acc, test_loss, test_acc; NaN = not done
    connect/<path>/done      (P,) bool
    connect/aligned_target/  params/, buffers/ (B with its units permuted), perms/g<i>
    connect/curve_fit/       @kind, @epochs_done; control/ (the fitted control point),
                             momentum/, fit_loss (mean training loss of each epoch)
    connect/plane/           x, y (orthonormal coordinates, x along B - A), train_loss and
                             done (ny, nx); corners (A, B, C) and curve (P, 2) in x, y

``<path>`` is ``linear`` (A to B), ``aligned`` (A to the aligned B) or ``curve``. Every write
is one :func:`landscape.store.atomic_update` transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landscape import store
from landscape.errors import LandscapeError

GROUP = "connect"
FIT = "curve_fit"


@dataclass(frozen=True)
class PathValues:
    """Loss and accuracy along one path.

    Attributes:
        values: metric name -> ``(P,)`` array (NaN where not computed).
        done: which points are computed.

    """

    values: dict[str, np.ndarray]
    done: np.ndarray


@dataclass(frozen=True)
class CurveState:
    """Where a curve fit stands after a number of epochs (enough to resume it exactly).

    Attributes:
        control: the control point's parameters.
        momentum: the SGD momentum of each parameter.
        epochs_done: epochs completed.
        fit_loss: mean training loss of each completed epoch.

    """

    control: dict[str, np.ndarray]
    momentum: dict[str, np.ndarray]
    epochs_done: int
    fit_loss: np.ndarray


@dataclass(frozen=True)
class Plane:
    """The train loss over the plane of A, B and the control point C.

    Coordinates are orthonormal in parameter space: ``x`` along ``B - A``, ``y`` along the
    part of ``C - A`` orthogonal to it (A at the origin).

    Attributes:
        x: grid along ``x`` (columns).
        y: grid along ``y`` (rows).
        loss: train loss, shape ``(len(y), len(x))``; NaN where not computed.
        done: which points are computed.
        corners: ``(3, 2)`` coordinates of A, B and C.
        curve: ``(P, 2)`` coordinates of the fitted curve at the path's ``t``.

    """

    x: np.ndarray
    y: np.ndarray
    loss: np.ndarray
    done: np.ndarray
    corners: np.ndarray
    curve: np.ndarray


@dataclass(frozen=True)
class Connection:
    """Everything a ``connect/`` group holds.

    Attributes:
        t: the grid of ``t``.
        paths: path name -> its values.
        barriers: attribute name (``linear_barrier``, ``linear_barrier_t``, ...) -> value.
        checkpoint: path of A as given.
        target: path of B as given.
        curve_kind: ``bezier`` or ``polychain`` when a curve was fitted.
        curve: the fit's state, when a curve was fitted.
        plane: the loss over the plane of A, B and C, when computed.
        path: the file.

    """

    t: np.ndarray
    paths: dict[str, PathValues]
    barriers: dict[str, float]
    checkpoint: str
    target: str
    curve_kind: str | None
    curve: CurveState | None
    plane: Plane | None
    path: Path


def create(
    path: str | Path,
    *,
    config: Mapping[str, Any],
    t: np.ndarray,
    paths: Sequence[str],
    metrics: Sequence[str],
    checkpoint: str,
    target: str,
    command: str | None,
) -> None:
    """Write a new file holding an empty ``connect/`` group (every point NaN, none done)."""
    with store.atomic_update(path, new=True, command=command) as f:
        g = f.create_group(GROUP)
        g.attrs["config"] = store.config_json(config)
        g.attrs["paths"] = json.dumps(list(paths))
        g.attrs["metrics"] = json.dumps(list(metrics))
        g.attrs["checkpoint"] = checkpoint
        g.attrs["target"] = target
        g.create_dataset("t", data=np.asarray(t, np.float64))
        for name in paths:
            p = g.create_group(name)
            for m in metrics:
                p.create_dataset(m, data=np.full(len(t), np.nan))
            p.create_dataset("done", data=np.zeros(len(t), dtype=bool))


def holds_connect(path: str | Path) -> bool:
    """Whether ``path`` exists and holds a ``connect/`` group."""
    return store.group_config(path, GROUP) is not None


def write_values(path: str | Path, values: Mapping[str, PathValues]) -> None:
    """Store the values and done masks of the given paths."""
    with store.atomic_update(path) as f:
        for name, pv in values.items():
            for m, arr in pv.values.items():
                f[GROUP][name][m][...] = arr
            f[GROUP][name]["done"][...] = pv.done


def write_attrs(path: str | Path, attrs: Mapping[str, float]) -> None:
    """Store scalar attributes of ``connect/`` (barriers and their t)."""
    with store.atomic_update(path) as f:
        for k, v in attrs.items():
            f[GROUP].attrs[k] = float(v)


def write_alignment(
    path: str | Path,
    params: Mapping[str, np.ndarray],
    buffers: Mapping[str, np.ndarray],
    perms: Sequence[np.ndarray],
) -> None:
    """Store the aligned target (B with its units permuted) and the permutations."""
    with store.atomic_update(path) as f:
        if "aligned_target" in f[GROUP]:
            del f[GROUP]["aligned_target"]
        g = f[GROUP].create_group("aligned_target")
        store.write_params(g, "params", params)
        store.write_params(g, "buffers", buffers)
        p = g.create_group("perms")
        for i, perm in enumerate(perms):
            p.create_dataset(f"g{i}", data=np.asarray(perm, np.int64))


def write_curve_state(path: str | Path, kind: str, state: CurveState) -> None:
    """Store a curve fit's state (after each epoch)."""
    with store.atomic_update(path) as f:
        g = f[GROUP].require_group(FIT)
        g.attrs["kind"] = kind
        g.attrs["epochs_done"] = state.epochs_done
        store.write_params(g, "control", state.control)
        store.write_params(g, "momentum", state.momentum)
        if "fit_loss" in g:
            del g["fit_loss"]
        g.create_dataset("fit_loss", data=np.asarray(state.fit_loss, np.float64))


def write_plane(path: str | Path, plane: Plane) -> None:
    """Store the plane: its grid, the corners and the curve, and the values computed so far."""
    with store.atomic_update(path) as f:
        g = f[GROUP].require_group("plane")
        for name, arr in (
            ("x", plane.x),
            ("y", plane.y),
            ("train_loss", plane.loss),
            ("done", plane.done),
            ("corners", plane.corners),
            ("curve", plane.curve),
        ):
            if name in g:
                g[name][...] = arr
            else:
                g.create_dataset(name, data=arr)


def read_alignment(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The stored aligned target: ``(params, buffers)``."""
    with store.open_read(path) as f:
        g = f[GROUP]["aligned_target"]
        return store.read_params(g["params"]), store.read_params(g["buffers"])


def read_connect(path: str | Path) -> Connection:
    """Read a ``connect/`` group.

    Raises:
        LandscapeError: if the file holds none.

    """
    path = Path(path)
    with store.open_read(path) as f:
        if GROUP not in f:
            raise LandscapeError(f"{path}: holds no 'connect' group (made by landscape connect?)")
        g = f[GROUP]
        metrics = json.loads(g.attrs["metrics"])
        paths = {
            name: PathValues({m: g[name][m][()] for m in metrics}, g[name]["done"][()])
            for name in json.loads(g.attrs["paths"])
        }
        barriers = {k: float(v) for k, v in g.attrs.items() if "barrier" in k}
        curve = _read_curve(g[FIT]) if FIT in g else None
        plane = None
        if "plane" in g:
            p = g["plane"]
            plane = Plane(*(p[k][()] for k in ("x", "y", "train_loss", "done", "corners", "curve")))
        return Connection(
            t=g["t"][()],
            paths=paths,
            barriers=barriers,
            checkpoint=str(g.attrs["checkpoint"]),
            target=str(g.attrs["target"]),
            curve_kind=str(g[FIT].attrs["kind"]) if FIT in g else None,
            curve=curve,
            plane=plane,
            path=path,
        )


def read_curve_state(path: str | Path) -> CurveState | None:
    """The stored curve fit's state, or ``None`` before its first epoch."""
    with store.open_read(path) as f:
        g = f[GROUP]
        return _read_curve(g[FIT]) if FIT in g else None


def _read_curve(g: Any) -> CurveState:
    return CurveState(
        control=store.read_params(g["control"]),
        momentum=store.read_params(g["momentum"]),
        epochs_done=int(g.attrs["epochs_done"]),
        fit_loss=g["fit_loss"][()],
    )


MATRIX = "connect_matrix"
"""The group of a barrier matrix file (``landscape connect RUN... --out DIR``)."""


@dataclass(frozen=True)
class BarrierMatrix:
    """Barriers between the final checkpoints of several runs.

    Attributes:
        names: run names (directory names), one per row.
        labels: each run's group (runs of one group are seeds of one setting).
        checkpoints: each run's final checkpoint.
        barriers: ``linear``, ``aligned``, ``curve`` -> ``(R, R)`` symmetric train-split
            barriers, 0 on the diagonal, NaN where not computed.
        files: pair file names, ``"i,j"`` -> file of that pair's connection.
        path: the matrix file.

    """

    names: list[str]
    labels: list[str]
    checkpoints: list[str]
    barriers: dict[str, np.ndarray]
    files: dict[str, str]
    path: Path


def write_matrix(path: str | Path, matrix: BarrierMatrix, *, command: str | None) -> None:
    """Write a barrier matrix file (a new file each time; the pair files hold the work)."""
    with store.atomic_update(path, new=True, command=command) as f:
        g = f.create_group(MATRIX)
        g.attrs["names"] = json.dumps(matrix.names)
        g.attrs["labels"] = json.dumps(matrix.labels)
        g.attrs["checkpoints"] = json.dumps(matrix.checkpoints)
        g.attrs["files"] = json.dumps(matrix.files)
        for kind, m in matrix.barriers.items():
            g.create_dataset(kind, data=np.asarray(m, np.float64))


def read_matrix(path: str | Path) -> BarrierMatrix:
    """Read a barrier matrix file.

    Raises:
        LandscapeError: if the file holds no barrier matrix.

    """
    path = Path(path)
    with store.open_read(path) as f:
        if MATRIX not in f:
            raise LandscapeError(
                f"{path}: holds no barrier matrix (made by landscape connect RUN...?)"
            )
        g = f[MATRIX]
        return BarrierMatrix(
            names=json.loads(g.attrs["names"]),
            labels=json.loads(g.attrs["labels"]),
            checkpoints=json.loads(g.attrs["checkpoints"]),
            barriers={k: g[k][()] for k in g},
            files=json.loads(g.attrs["files"]),
            path=path,
        )
