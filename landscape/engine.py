"""The surface engine: evaluate a 1D or 2D grid of points, store it, resume it.

A surface is the loss (and accuracy) at ``origin + x d0`` (1D) or
``origin + x d0 + y d1`` (2D) for every grid coordinate, on each data split.
Results are kept in arrays indexed ``[iy, ix]`` (rows follow ``y``, columns
``x``; see DESIGN.md) and written to HDF5 as they are computed, so a run that
is killed and started again computes only the missing points.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape import distributed, store
from landscape.adaptive import (
    AdaptivePointEvaluator,
    axis_anchors,
    check_tolerance,
    tolerance_config,
)
from landscape.chunk_size import ChunkSize
from landscape.directions import Directions, directions_from_arrays
from landscape.errors import LandscapeError, damaged_file_errors, model_errors
from landscape.evaluators import (
    BNMode,
    FlatWeights,
    PointEvaluator,
    StackedEvaluator,
    use_as_parameters,
)
from landscape.grid import check_grid_size
from landscape.io.surface import create_surface_file, read_progress, store_origin, write_values
from landscape.objective import Objective
from landscape.params import ParamDict
from landscape.progress import progress as progress_bar
from landscape.records import Surface

log = logging.getLogger(__name__)

Evaluator = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
ORIGIN_RTOL = 1e-4


def grid_coords(x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    """All grid points in storage order, shape ``(P, ndim)``; flat index ``k = iy * nx + ix``.

    >>> grid_coords(np.array([0.0, 1.0, 2.0]), np.array([5.0, 6.0]))[4].tolist()
    [1.0, 6.0]
    """
    if y is None:
        return x.reshape(-1, 1).astype(np.float64)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float64)


def _metric_names(objectives: Mapping[str, Objective], adaptive: bool = False) -> list[str]:
    """The stored metrics; an adaptive surface adds standard errors and rows used per point."""
    names = []
    for split, obj in objectives.items():
        names.append(f"{split}_loss")
        if obj.has_accuracy:
            names.append(f"{split}_acc")
    if adaptive:
        for split, obj in objectives.items():
            names.append(f"{split}_loss_se")
            if obj.has_accuracy:
                names.append(f"{split}_acc_se")
            names.append(f"{split}_rows")
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
    tolerance: float | None = None,
    progress: bool = True,
    command: str | None = None,
    context: distributed.Context | None = None,
) -> Surface:
    """Evaluate every grid point on every split, writing to ``out`` as it goes.

    With the ``context`` of an active ``torch.distributed`` process group (see
    :func:`landscape.distributed.session`) the pending points are dealt out
    round-robin across ranks; rank 0 alone holds the writer lock, decides
    whether to resume, hands the stored state and the directions to the other
    ranks, gathers their results after every pass and writes the file. The
    values equal a single-process run's.

    Args:
        objectives: split name (``train``/``test``) -> objective.
        origin: the reference point (the checkpoint's parameters). Its tensors, and
            those of ``directions``, are replaced by views of one flat buffer each
            (same values; :class:`~landscape.evaluators.FlatWeights`), so that the
            weights are held once: the origin, the directions and the point.
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
        tolerance: evaluate each point only to this 95% half-width of its mean loss
            (:class:`~landscape.adaptive.AdaptivePointEvaluator`, one point per pass) and
            store every metric's standard error (``train_loss_se``, ...) and the rows used
            (``train_rows``) beside it; ``None``: every point on all the data.
        progress: show progress (:func:`landscape.progress.progress`).
        command: command line for provenance (defaults to ``sys.argv``).
        context: the distributed context (``None``: a single process).

    Returns:
        The surface (complete unless interrupted).

    Raises:
        LandscapeError: on mismatched directions/grid, or a conflicting file.

    """
    ndim = 1 if y is None else 2
    if len(directions.vectors) != ndim:
        raise LandscapeError(
            f"surface: {ndim}D grid needs {ndim} direction(s), got {len(directions.vectors)}"
        )
    if points_per_pass is not None and points_per_pass < 1:
        raise LandscapeError(
            f"points-per-pass: expected a positive integer (got {points_per_pass})"
        )
    check_tolerance(tolerance, points_per_pass)
    if not objectives:
        raise LandscapeError("surface: no data split to evaluate")
    metrics = _metric_names(objectives, adaptive=tolerance is not None)
    shape = (len(x),) if y is None else (len(y), len(x))
    check_grid_size(shape)
    config = dict(config or {})
    config.update(
        {
            "x": [float(v) for v in x],
            "y": None if y is None else [float(v) for v in y],
            "metrics": metrics,
            "bn": bn,
        }
        | tolerance_config(tolerance)
    )
    path = Path(out) if out is not None else None
    ctx = context or distributed.Context()
    coords = grid_coords(
        np.asarray(x, np.float64), None if y is None else np.asarray(y, np.float64)
    )
    with contextlib.ExitStack() as stack:

        def start() -> _Start:
            if path is not None:
                stack.enter_context(store.writer_lock(path))
            empty = Surface(
                np.asarray(x),
                None if y is None else np.asarray(y),
                {m: np.full(shape, np.nan) for m in metrics},
                np.zeros(shape, dtype=bool),
                config=config,
            )
            return _start(
                path, directions, empty, overwrite=overwrite, command=command, share=ctx.active
            )

        origin_values = _origin_values(objectives, origin)  # a bad loss fails before any file
        state = ctx.on_main(start)
        values, done = state.values, state.done
        vectors = directions.vectors
        if state.directions is not None:
            vectors = directions_from_arrays(state.directions, origin, source=str(path or "rank 0"))
        del state  # the stored directions' arrays are freed once flattened
        evaluators = _evaluators(
            objectives,
            origin,
            vectors,
            points_per_pass=points_per_pass,
            bn=bn,
            buffer_vectors=directions.buffer_vectors,
            tolerance=tolerance,
            anchors=axis_anchors(coords) if tolerance is not None else None,
        )
        pending = np.flatnonzero(~done.ravel())
        writer = _Writer(path if ctx.is_main else None, values, done)
        try:
            _run(
                evaluators,
                coords,
                pending,
                values=values,
                done=done,
                writer=writer,
                points_per_pass=points_per_pass,
                bn=bn,
                progress=progress,
                ctx=ctx,
            )
        finally:
            writer.flush(final=True)
        if ctx.is_main:
            _report(
                values,
                done,
                origin_values=origin_values,
                evaluators=evaluators,
                ndim=len(vectors),
                path=path,
            )
            if path is not None:
                store_origin(path, origin_values)
    return Surface(
        np.asarray(x), None if y is None else np.asarray(y), values, done, origin_values, path
    )


@dataclass(frozen=True)
class _Start:
    """Where a run starts: stored or empty results, and directions shared by rank 0."""

    values: dict[str, np.ndarray]
    done: np.ndarray
    directions: list[dict[str, np.ndarray]] | None


def _start(
    path: Path | None,
    directions: Directions,
    empty: Surface,
    *,
    overwrite: bool,
    command: str | None,
    share: bool,
) -> _Start:
    """Resume ``path``, or create it holding ``empty`` (its grid, config, NaN values).

    ``share``: also return fresh directions (for the other ranks).
    """
    if path is not None and not overwrite and path.exists():
        try:
            with store.open_read(path):
                pass
        except LandscapeError as exc:
            raise LandscapeError(f"{exc}; pass --overwrite to replace it") from exc
        with damaged_file_errors(path, kind="surface"):
            if store.group_config(path, "surface") is None:
                raise LandscapeError(
                    f"{path} exists but holds no landscape surface (another tool's file?); "
                    "pass --overwrite to replace it or choose another --out"
                )
            if store.check_resumable(path, "surface", empty.config, overwrite=False):
                return _Start(*read_progress(path, list(empty.values)))
    if path is not None:
        create_surface_file(
            path,
            (directions.kind, directions.attrs, directions.numpy()),
            empty,
            command=command,
            tolerance=empty.config.get("tolerance"),
        )
    return _Start(empty.values, empty.done, directions.numpy() if share else None)


def _evaluators(
    objectives: Mapping[str, Objective],
    origin: ParamDict,
    vectors: Sequence[ParamDict],
    *,
    points_per_pass: int | None,
    bn: BNMode,
    buffer_vectors: Sequence[ParamDict] | None,
    tolerance: float | None = None,
    anchors: np.ndarray | None = None,
) -> dict[str, tuple[PointEvaluator, StackedEvaluator | None]]:
    """One evaluator per split; ``--bn recompute`` estimates on the train split when there is one.

    With a ``tolerance`` each split gets an :class:`AdaptivePointEvaluator` (with reference
    points ``anchors`` besides the origin) and no stacked one. The splits share one
    :class:`~landscape.evaluators.FlatWeights` (origin, directions, point), which
    ``origin``, ``vectors`` and the objectives' models are pointed at, so the weights
    are held once whatever the number of splits.
    """
    out = {}
    train = objectives.get("train")
    models = [obj.model for obj in objectives.values()]
    for model in models:  # their own weights are freed before the flat copies exist
        use_as_parameters(model, origin)
    params = dict(models[0].named_parameters())
    weights = FlatWeights(params, origin, vectors, share=True, holders=models)
    common: dict[str, Any] = {
        "bn": bn,
        "bn_data": train.split if train is not None else None,
        "buffer_directions": buffer_vectors,
        "weights": weights,
    }
    for split, obj in objectives.items():
        point = (
            PointEvaluator(obj, origin, vectors, **common)
            if tolerance is None
            else AdaptivePointEvaluator(
                obj, origin, vectors, tolerance=tolerance, anchors=anchors, **common
            )
        )
        stacked = (
            None
            if bn == "recompute"
            or tolerance is not None
            or points_per_pass == 1
            or (points_per_pass is None and obj.device.type == "cpu")
            else StackedEvaluator(obj, origin, vectors, buffer_directions=buffer_vectors)
        )
        out[split] = (point, stacked)
    return out


def _evaluate(
    evaluators: Mapping[str, tuple[PointEvaluator, StackedEvaluator | None]], coords: np.ndarray
) -> dict[str, dict[str, np.ndarray]]:
    """Each split's values at ``coords``, by metric suffix (``loss``, ``acc``, ``loss_se``, ...)."""
    results = {}
    for split, (point, stacked) in evaluators.items():
        if isinstance(point, AdaptivePointEvaluator):
            results[split] = dataclasses.asdict(point.evaluate(coords))
            continue
        loss, acc = point(coords) if len(coords) == 1 or stacked is None else stacked(coords)
        results[split] = {"loss": loss, "acc": acc}
    return results


def _run(
    evaluators: Mapping[str, tuple[PointEvaluator, StackedEvaluator | None]],
    coords: np.ndarray,
    pending: np.ndarray,
    *,
    values: dict[str, np.ndarray],
    done: np.ndarray,
    writer: _Writer,
    points_per_pass: int | None,
    bn: BNMode,
    progress: bool,
    ctx: distributed.Context,
) -> None:
    """Evaluate this rank's share of ``pending`` (every ``world_size``-th point).

    After each pass the ranks exchange what they computed, so every rank's
    ``values`` and ``done`` stay complete and rank 0 can flush them to disk.
    """
    mine = pending[ctx.shard(len(pending))]
    device = next(iter(evaluators.values()))[0].objective.device
    sequential = all(stacked is None for _, stacked in evaluators.values())
    chunk = ChunkSize(points_per_pass, bn, tune=device.type != "cpu", sequential=sequential)
    bar = progress_bar(
        total=len(pending),
        unit="pt",
        desc=f"surface {writer.path.name}" if writer.path is not None else "surface",
        enabled=progress and ctx.is_main,
    )
    with bar:
        i = 0
        while True:
            idx = mine[i : i + chunk.size]
            results: dict[str, dict[str, np.ndarray]] = {}
            if len(idx):
                start = time.perf_counter()
                try:
                    results = _evaluate(evaluators, coords[idx])
                except torch.OutOfMemoryError:
                    chunk.out_of_memory(len(idx))
                    continue
                chunk.observe(len(idx), time.perf_counter() - start)
                i += len(idx)
            shares = ctx.all_gather((idx, results, i >= len(mine)))
            for share_idx, share_results, _ in shares:
                for split, split_values in share_results.items():
                    for suffix, v in split_values.items():
                        if f"{split}_{suffix}" in values:
                            _store(values, f"{split}_{suffix}", share_idx, v)
                done.ravel()[share_idx] = True
                bar.update(len(share_idx))
            writer.maybe_flush()
            if all(finished for _, _, finished in shares):
                return


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
        write_values(self.path, self.values, self.done)
        self.last = time.monotonic()
        self.interval = max(2.0, 20 * (self.last - start))
        self.dirty = False


def _origin_values(objectives: Mapping[str, Objective], origin: ParamDict) -> dict[str, float]:
    out = {}
    for split, obj in objectives.items():
        with model_errors(split):
            loss, acc = obj.evaluate(origin)
        out[f"{split}_loss"] = loss
        if obj.has_accuracy:
            out[f"{split}_acc"] = acc
    return out


def _report(
    values: dict[str, np.ndarray],
    done: np.ndarray,
    *,
    origin_values: dict[str, float],
    evaluators: Mapping[str, tuple[PointEvaluator, StackedEvaluator | None]],
    ndim: int,
    path: Path | None,
) -> None:
    """Log the origin sanity check and any non-finite points."""
    zero = np.zeros((1, ndim))
    for split, (point, _) in evaluators.items():
        at_zero = float(PointEvaluator.__call__(point, zero)[0][0])  # all data, adaptive or not
        own = origin_values[f"{split}_loss"]
        if not math.isclose(at_zero, own, rel_tol=ORIGIN_RTOL, abs_tol=1e-7):
            log.warning(
                "ORIGIN CHECK FAILED (%s): loss at the origin %.6g != checkpoint loss %.6g; "
                "the model may be nondeterministic or depend on state outside its parameters "
                "and buffers",
                split,
                at_zero,
                own,
            )
        else:
            log.info(
                "origin check (%s): surface loss at (0,0) %.6g = checkpoint loss %.6g",
                split,
                at_zero,
                own,
            )
    bad = sum(int(np.sum(done & ~np.isfinite(v))) for k, v in values.items() if k.endswith("_loss"))
    if bad:
        log.warning("%d point(s) gave a non-finite loss; stored as NaN", bad)
    if path is not None:
        log.info("wrote %s (%d of %d points done)", path, int(done.sum()), done.size)
