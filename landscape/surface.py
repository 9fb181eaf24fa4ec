"""The surface engine: evaluate a 1D or 2D grid of points, store it, resume it.

A surface is the loss (and accuracy) at ``origin + x d0`` (1D) or
``origin + x d0 + y d1`` (2D) for every grid coordinate, on each data split.
Results are kept in arrays indexed ``[iy, ix]`` (rows follow ``y``, columns
``x``; see DESIGN.md) and written to HDF5 as they are computed, so a run that
is killed and started again computes only the missing points.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from landscape import store
from landscape.directions import Directions, directions_from_arrays
from landscape.errors import LandscapeError
from landscape.evaluators import BNMode, PointEvaluator, StackedEvaluator
from landscape.objective import Objective
from landscape.params import ParamDict

log = logging.getLogger(__name__)

Evaluator = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
ORIGIN_RTOL = 1e-4


@dataclass(frozen=True)
class Surface:
    """A computed (possibly partial) loss surface.

    Attributes:
        x: coordinates along the first direction, shape ``(nx,)``.
        y: coordinates along the second direction, shape ``(ny,)``, or ``None`` (1D).
        values: metric name (``train_loss``, ``train_acc``, ``test_loss``,
            ``test_acc``) -> array of shape ``(nx,)`` or ``(ny, nx)``; NaN where
            not computed or not finite.
        done: which points are computed, same shape as the values.
        origin: metric name -> value at the reference point (the checkpoint itself).
        path: the HDF5 file it lives in, if any.
    """

    x: np.ndarray
    y: np.ndarray | None
    values: dict[str, np.ndarray]
    done: np.ndarray
    origin: dict[str, float]
    path: Path | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """``(nx,)`` for 1D, ``(ny, nx)`` for 2D."""
        return self.done.shape

    @property
    def complete(self) -> bool:
        """Whether every point has been computed."""
        return bool(self.done.all())


def grid_coords(x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    """All grid points in storage order, shape ``(P, ndim)``; flat index ``k = iy * nx + ix``.

    >>> grid_coords(np.array([0.0, 1.0, 2.0]), np.array([5.0, 6.0]))[4].tolist()
    [1.0, 6.0]
    """
    if y is None:
        return x.reshape(-1, 1).astype(np.float64)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float64)


def _metric_names(objectives: Mapping[str, Objective]) -> list[str]:
    names = []
    for split, obj in objectives.items():
        names.append(f"{split}_loss")
        if obj.has_accuracy:
            names.append(f"{split}_acc")
    return names


def compute_surface(
    objectives: Mapping[str, Objective],
    origin: ParamDict,
    directions: Directions,
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    out: str | Path | None = None,
    config: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    points_per_pass: int | None = None,
    bn: BNMode = "eval",
    progress: bool = True,
    command: str | None = None,
) -> Surface:
    """Evaluate every grid point on every split, writing to ``out`` as it goes.

    Args:
        objectives: split name (``train``/``test``) -> objective.
        origin: the reference point (the checkpoint's parameters).
        directions: one direction for a 1D grid over ``x``, two for 2D.
        x: coordinates along ``directions.vectors[0]``.
        y: coordinates along ``directions.vectors[1]`` (2D only).
        out: HDF5 file; a file made with the same ``config`` is resumed, one
            with a different config is refused unless ``overwrite``.
        config: everything that determines the result (stored and compared).
        overwrite: replace an existing file made with another config.
        points_per_pass: points per forward pass; ``None`` chooses by measuring
            (1, 2, 4, ... while the time per point keeps falling by > 10%).
        bn: ``eval`` or ``recompute`` BatchNorm statistics at every point
            (recompute evaluates one point per pass).
        progress: show a tqdm bar.
        command: command line for provenance (defaults to ``sys.argv``).

    Returns:
        The surface (complete unless interrupted).

    Raises:
        LandscapeError: on mismatched directions/grid, or a conflicting file.
    """
    ndim = 1 if y is None else 2
    if len(directions.vectors) != ndim:
        raise LandscapeError(f"surface: {ndim}D grid needs {ndim} direction(s), got {len(directions.vectors)}")
    if points_per_pass is not None and points_per_pass < 1:
        raise LandscapeError(f"points-per-pass: expected a positive integer (got {points_per_pass})")
    if not objectives:
        raise LandscapeError("surface: no data split to evaluate")
    metrics = _metric_names(objectives)
    shape = (len(x),) if y is None else (len(y), len(x))
    config = dict(config or {})
    config.update(
        {"x": [float(v) for v in x], "y": None if y is None else [float(v) for v in y], "metrics": metrics, "bn": bn}
    )
    path = Path(out) if out is not None else None
    values = {m: np.full(shape, np.nan) for m in metrics}
    done = np.zeros(shape, dtype=bool)
    vectors = directions.vectors
    lock = store.writer_lock(path) if path is not None else _null_context()
    with lock:
        if path is not None:
            if store.check_resumable(path, "surface", config, overwrite=overwrite):
                values, done, stored = _read_state(path, metrics)
                vectors = directions_from_arrays(stored, origin, source=str(path))
            else:
                _create_file(path, directions, x, y, values, done, config, command)
        origin_values = _origin_values(objectives, origin)
        evaluators = _evaluators(objectives, origin, vectors, points_per_pass, bn)
        coords = grid_coords(np.asarray(x, np.float64), None if y is None else np.asarray(y, np.float64))
        pending = np.flatnonzero(~done.ravel())
        writer = _Writer(path, values, done)
        try:
            _run(evaluators, coords, pending, values, done, writer, points_per_pass, bn, progress)
        finally:
            writer.flush(final=True)
        _report(values, done, origin_values, objectives, origin, vectors, evaluators, path)
        if path is not None:
            with store.atomic_update(path) as f:
                f["surface"].attrs["origin"] = store.config_json(origin_values)
    return Surface(np.asarray(x), None if y is None else np.asarray(y), values, done, origin_values, path)


class _null_context:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _evaluators(
    objectives: Mapping[str, Objective],
    origin: ParamDict,
    vectors: Sequence[ParamDict],
    points_per_pass: int | None,
    bn: BNMode,
) -> dict[str, tuple[PointEvaluator, StackedEvaluator | None]]:
    out = {}
    for split, obj in objectives.items():
        point = PointEvaluator(obj, origin, vectors, bn=bn)
        stacked = None if bn == "recompute" or points_per_pass == 1 else StackedEvaluator(obj, origin, vectors)
        out[split] = (point, stacked)
    return out


def _evaluate(
    evaluators: Mapping[str, tuple[PointEvaluator, StackedEvaluator | None]], coords: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    results = {}
    for split, (point, stacked) in evaluators.items():
        if len(coords) == 1 or stacked is None:
            results[split] = point(coords)
        else:
            results[split] = _stacked_with_fallback(stacked, point, coords)
    return results


def _stacked_with_fallback(
    stacked: StackedEvaluator, point: PointEvaluator, coords: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    try:
        return stacked(coords)
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        if len(coords) == 1:
            return point(coords)
        half = len(coords) // 2
        log.warning("out of memory with %d points per pass; retrying with %d", len(coords), half)
        first = _stacked_with_fallback(stacked, point, coords[:half])
        second = _stacked_with_fallback(stacked, point, coords[half:])
        return np.concatenate([first[0], second[0]]), np.concatenate([first[1], second[1]])


def _run(
    evaluators: Mapping[str, tuple[PointEvaluator, StackedEvaluator | None]],
    coords: np.ndarray,
    pending: np.ndarray,
    values: dict[str, np.ndarray],
    done: np.ndarray,
    writer: _Writer,
    points_per_pass: int | None,
    bn: BNMode,
    progress: bool,
) -> None:
    chunk = points_per_pass or 1
    tuning = points_per_pass is None and bn == "eval"
    best_rate = 0.0
    bar = tqdm(total=len(pending), unit="pt", desc="surface", disable=not progress, dynamic_ncols=True)
    with bar:
        i = 0
        while i < len(pending):
            idx = pending[i : i + chunk]
            start = time.perf_counter()
            results = _evaluate(evaluators, coords[idx])
            rate = len(idx) / max(time.perf_counter() - start, 1e-9)
            for split, (loss, acc) in results.items():
                _store(values, f"{split}_loss", idx, loss)
                if f"{split}_acc" in values:
                    _store(values, f"{split}_acc", idx, acc)
            done.ravel()[idx] = True
            i += len(idx)
            bar.update(len(idx))
            writer.maybe_flush()
            if tuning and len(idx) == chunk:
                if rate > 1.1 * best_rate and chunk < 256:
                    best_rate = max(best_rate, rate)
                    chunk *= 2
                else:
                    chunk = max(1, chunk // 2) if rate < best_rate else chunk
                    tuning = False
                    log.info("points per pass: %d", chunk)


def _store(values: dict[str, np.ndarray], name: str, idx: np.ndarray, v: np.ndarray) -> None:
    values[name].ravel()[idx] = np.where(np.isfinite(v), v, np.nan)


class _Writer:
    """Throttled, crash-safe writes of the values and the done mask.

    Flushes at most every ``max(2 s, 20 x the last flush's duration)`` so that
    writing costs at most ~5% of the run even for files with large directions.
    """

    def __init__(self, path: Path | None, values: dict[str, np.ndarray], done: np.ndarray):
        self.path, self.values, self.done = path, values, done
        self.last = time.monotonic()
        self.interval = 2.0
        self.dirty = False

    def maybe_flush(self) -> None:
        self.dirty = True
        if time.monotonic() - self.last >= self.interval:
            self.flush()

    def flush(self, final: bool = False) -> None:
        if self.path is None or not (self.dirty or final):
            return
        start = time.monotonic()
        with store.atomic_update(self.path) as f:
            for name, arr in self.values.items():
                f[name][...] = arr
            f["surface/done"][...] = self.done
        self.last = time.monotonic()
        self.interval = max(2.0, 20 * (self.last - start))
        self.dirty = False


def _create_file(
    path: Path,
    directions: Directions,
    x: np.ndarray,
    y: np.ndarray | None,
    values: dict[str, np.ndarray],
    done: np.ndarray,
    config: Mapping[str, Any],
    command: str | None,
) -> None:
    with store.atomic_update(path, new=True, command=command) as f:
        d = f.create_group("directions")
        d.attrs["kind"] = directions.kind
        for key, val in directions.attrs.items():
            d.attrs[key] = val if isinstance(val, (int, float, str, bool)) else store.config_json(val)
        for i, vec in enumerate(directions.numpy()):
            store.write_params(d, f"d{i}", vec)
        f.create_dataset("xcoordinates", data=np.asarray(x, np.float64))
        if y is not None:
            f.create_dataset("ycoordinates", data=np.asarray(y, np.float64))
        g = f.create_group("surface")
        g.attrs["config"] = store.config_json(config)
        g.attrs["ndim"] = 1 if y is None else 2
        g.attrs["metrics"] = store.config_json(list(values))
        g.create_dataset("done", data=done)
        for name, arr in values.items():
            f.create_dataset(name, data=arr)
            g[name] = f[name]


def _read_state(path: Path, metrics: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray, list[dict[str, np.ndarray]]]:
    with store.open_read(path) as f:
        done = f["surface/done"][()]
        values = {m: f[m][()] for m in metrics}
        stored = [store.read_params(f["directions"][k]) for k in sorted(f["directions"]) if k.startswith("d")]
    return values, done, stored


def _origin_values(objectives: Mapping[str, Objective], origin: ParamDict) -> dict[str, float]:
    out = {}
    for split, obj in objectives.items():
        loss, acc = obj.evaluate(origin)
        out[f"{split}_loss"] = loss
        if obj.has_accuracy:
            out[f"{split}_acc"] = acc
    return out


def _report(
    values: dict[str, np.ndarray],
    done: np.ndarray,
    origin_values: dict[str, float],
    objectives: Mapping[str, Objective],
    origin: ParamDict,
    vectors: Sequence[ParamDict],
    evaluators: Mapping[str, tuple[PointEvaluator, StackedEvaluator | None]],
    path: Path | None,
) -> None:
    """Log the origin sanity check and any non-finite points."""
    zero = np.zeros((1, len(vectors)))
    for split, (point, _) in evaluators.items():
        at_zero = float(point(zero)[0][0])
        own = origin_values[f"{split}_loss"]
        if not math.isclose(at_zero, own, rel_tol=ORIGIN_RTOL, abs_tol=1e-7):
            log.warning(
                "ORIGIN CHECK FAILED (%s): loss at the origin %.6g != checkpoint loss %.6g; the model may be "
                "nondeterministic or depend on state outside its parameters and buffers",
                split, at_zero, own,
            )
        else:
            log.info("origin check (%s): surface loss at (0,0) %.6g = checkpoint loss %.6g", split, at_zero, own)
    bad = sum(int(np.sum(done & ~np.isfinite(v))) for k, v in values.items() if k.endswith("_loss"))
    if bad:
        log.warning("%d point(s) gave a non-finite loss; stored as NaN", bad)
    if path is not None:
        log.info("wrote %s (%d of %d points done)", path, int(done.sum()), done.size)
