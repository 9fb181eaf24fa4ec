"""Optimizer trajectories: a PCA plane of the checkpoints and the path projected on it.

Following Li et al. 2018 ("Visualizing the Loss Landscape of Neural Nets",
section 7), the plane is spanned by the two leading principal directions of
the matrix ``M`` whose rows are ``theta_i - theta_origin``, the differences of
every checkpoint from the final one. With the SVD ``M = U S V^T`` (found through the
T x T Gram matrix ``M M^T``, :mod:`landscape.pca`, never forming M) the
directions are the first two rows of ``V^T`` (orthonormal, name-keyed) and the
explained variance ratio of direction ``k`` is ``s_k^2 / sum_j s_j^2``. The
SVD is not centred: the plane must pass through the origin checkpoint, so the
best plane *through that point* is wanted (the reference code's scikit-learn
PCA centres on the mean instead).

Each checkpoint is projected by least squares, ``c = argmin ||G^T c - x||``
with ``G`` the stacked directions, i.e. ``(G G^T) c = G x``, which is exact
for points on the plane even when the directions are not orthogonal.

Several runs can share one plane: PCA over the union of their checkpoints,
origin at the end of a chosen run, so different optimizers' paths are drawn
on one surface. The loss under a projected path is the loss *on the plane*,
not the loss of the checkpoints, which lie off it by the stored residual.

This module is the maths; :mod:`landscape.pipelines.trajectory` loads the runs,
computes the surface on the plane and writes the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from landscape.checkpoint_mmap import open_checkpoint_lazily
from landscape.dynamics.runs import Run, read_run
from landscape.errors import LandscapeError
from landscape.params import ParamDict, check_same_keys, dot
from landscape.pca import CHUNK_BYTES, gram_pca
from landscape.records import Trajectory


@dataclass(frozen=True)
class PCAPlane:
    """A plane through ``origin`` spanned by the two leading principal directions.

    Attributes:
        origin: the point the plane passes through (the final checkpoint).
        directions: two orthonormal name-keyed directions.
        explained_variance_ratio: ``s_k^2 / sum_j s_j^2`` of the two directions.
        singular_values: every singular value of the difference matrix.

    """

    origin: ParamDict
    directions: tuple[ParamDict, ParamDict]
    explained_variance_ratio: np.ndarray
    singular_values: np.ndarray


def pca_plane(
    points: Sequence[ParamDict], origin: ParamDict, *, chunk_bytes: int = CHUNK_BYTES
) -> PCAPlane:
    """Two leading principal directions of ``points - origin`` (uncentred, float64).

    Computed by :func:`landscape.pca.gram_pca` from the T x T Gram matrix, a
    parameter slice at a time, so ``points`` may be memory-mapped checkpoints
    and no (T, P) matrix is formed.

    Args:
        points: the checkpoints, name-keyed like ``origin``.
        origin: the point the plane passes through.
        chunk_bytes: bound on the float64 slice of the path held at once.

    Raises:
        LandscapeError: if names or shapes differ, or the differences span
            fewer than two dimensions.

    >>> import torch
    >>> o = {"w": torch.zeros(3)}
    >>> pts = [{"w": torch.tensor([2.0, 0.0, 0.0])}, {"w": torch.tensor([0.0, 1.0, 0.0])}, o]
    >>> plane = pca_plane(pts, o)
    >>> plane.explained_variance_ratio.round(12).tolist(), plane.directions[0]["w"].abs().tolist()
    ([0.8, 0.2], [1.0, 0.0, 0.0])

    """
    for i, p in enumerate(points):
        check_same_keys(origin, p, what=f"checkpoint {i}")
    pca = gram_pca(lambda: points, origin, chunk_bytes=chunk_bytes)
    return PCAPlane(
        origin=dict(origin),
        directions=pca.directions,
        explained_variance_ratio=pca.explained_variance_ratio,
        singular_values=pca.singular_values,
    )


def project(
    points: Sequence[ParamDict], origin: ParamDict, directions: Sequence[ParamDict]
) -> np.ndarray:
    """Least-squares coordinates of each point on the plane ``origin + span(directions)``.

    Solves ``(D D^T) c = D (theta - origin)`` in float64, exact for points on
    the plane whether or not the directions are orthogonal.

    >>> import torch
    >>> o = {"w": torch.zeros(2)}
    >>> d = [{"w": torch.tensor([1.0, 0.0])}, {"w": torch.tensor([1.0, 1.0])}]
    >>> project([{"w": torch.tensor([3.0, 2.0])}], o, d).tolist()
    [[1.0, 2.0]]
    """
    gram = np.array([[dot(a, b) for b in directions] for a in directions])
    if abs(np.linalg.det(gram)) <= 1e-300:
        raise LandscapeError("trajectory: the plane's directions are linearly dependent")
    out = np.empty((len(points), len(directions)))
    for i, p in enumerate(points):
        x = {k: p[k].double() - origin[k].double() for k in origin}
        out[i] = np.linalg.solve(
            gram, np.array([dot({k: d[k].double() for k in d}, x) for d in directions])
        )
    return out


def _residuals(
    points: Sequence[ParamDict], origin: ParamDict, plane: PCAPlane, coords: np.ndarray
) -> np.ndarray:
    res = np.zeros(len(points))
    for i, p in enumerate(points):
        x = {k: p[k].double() - origin[k].double() for k in origin}
        size = dot(x, x) ** 0.5
        if size == 0:
            continue
        for k in x:
            x[k] = (
                x[k]
                - coords[i, 0] * plane.directions[0][k].double()
                - coords[i, 1] * plane.directions[1][k].double()
            )
        res[i] = dot(x, x) ** 0.5 / size
    return res


@dataclass(frozen=True)
class RunPath:
    """The checkpoints of one run, loaded for a model.

    Attributes:
        run: the run directory's contents.
        params: parameters of each checkpoint, ordered by step (memory-mapped).
        epochs: epoch of each checkpoint (-1 if unknown).
        steps: step of each checkpoint (-1 if unknown).
        buffers: buffers (BatchNorm statistics) of the last checkpoint.

    """

    run: Run
    params: tuple[ParamDict, ...]
    epochs: np.ndarray
    steps: np.ndarray
    buffers: ParamDict


def load_run_path(run_dir: str | Path, model: nn.Module, *, trust: bool = False) -> RunPath:
    """Open every checkpoint of a run directory for ``model`` (ordered by step).

    The checkpoints are memory-mapped (:func:`landscape.checkpoint_mmap.open_checkpoint_lazily`),
    so a long run costs file pages, not a copy of the model per checkpoint.

    Raises:
        LandscapeError: if the run has fewer than two checkpoints or they do not fit the model.

    """
    run = read_run(run_dir)
    if len(run.checkpoints) < 2:
        raise LandscapeError(
            f"{run_dir}: {len(run.checkpoints)} checkpoint(s) found; a trajectory needs at least 2 "
            "(train with --checkpoint-every 1)"
        )
    loaded = [open_checkpoint_lazily(model, c.path, trust=trust) for c in run.checkpoints]
    return RunPath(
        run=run,
        params=tuple(p for p, _ in loaded),
        epochs=np.array(
            [-1 if c.epoch is None else c.epoch for c in run.checkpoints], dtype=np.int64
        ),
        steps=np.array([-1 if c.step is None else c.step for c in run.checkpoints], dtype=np.int64),
        buffers=loaded[-1][1],
    )


def trajectory_plane(paths: Sequence[RunPath], *, origin: int = -1) -> tuple[PCAPlane, Trajectory]:
    """PCA plane of the union of the runs' checkpoints, origin at the end of ``paths[origin]``.

    Returns:
        The plane and every checkpoint projected onto it.

    """
    if not paths:
        raise LandscapeError("trajectory: expected at least one run")
    ref = paths[origin]
    center = ref.params[-1]
    points = [p for path in paths for p in path.params]
    plane = pca_plane(points, center)
    coords = project(points, center, plane.directions)
    labels = _unique_labels([p.run for p in paths])
    traj = Trajectory(
        coords=coords,
        epochs=np.concatenate([p.epochs for p in paths]),
        steps=np.concatenate([p.steps for p in paths]),
        run=np.concatenate(
            [np.full(len(p.params), i, dtype=np.int64) for i, p in enumerate(paths)]
        ),
        labels=labels,
        residual=_residuals(points, center, plane, coords),
        explained_variance_ratio=plane.explained_variance_ratio,
        origin_label=labels[origin],
    )
    return plane, traj


def _unique_labels(runs: Sequence[Run]) -> tuple[str, ...]:
    names = [r.name for r in runs]
    return tuple(
        n if names.count(n) == 1 else str(r.path) for n, r in zip(names, runs, strict=True)
    )


def surface_grid(
    coords: np.ndarray, *, margin: float = 0.25, resolution: int = 21
) -> tuple[np.ndarray, np.ndarray]:
    """Grid coordinates enclosing every point with a margin.

    Each axis spans the points' range widened on both sides by ``margin`` times
    the larger of the two ranges (so a nearly straight path still gets a
    useful band around it).

    >>> pts = np.array([[-2.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    >>> x, y = surface_grid(pts, margin=0.5, resolution=3)
    >>> x.tolist(), y.tolist()
    ([-3.0, -1.0, 1.0], [-1.0, 0.5, 2.0])
    """
    if resolution < 2:
        raise LandscapeError(f"resolution: expected at least 2 points per axis (got {resolution})")
    if margin < 0:
        raise LandscapeError(f"margin: expected a value >= 0 (got {margin})")
    low, high = coords.min(axis=0), coords.max(axis=0)
    pad = margin * float(max((high - low).max(), 1e-12))
    return (
        np.linspace(low[0] - pad, high[0] + pad, resolution),
        np.linspace(low[1] - pad, high[1] + pad, resolution),
    )
