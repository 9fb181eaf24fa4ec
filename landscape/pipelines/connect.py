"""``connect``: are two solutions in the same basin? Loss along the line, after alignment, along a curve.

The steps, in order: load the model and both checkpoints; load the data (train and test
splits on the device); with ``align``, find the model's permutation groups and permute B's
units to match A (weight matching); create or resume the output file; with ``curve``, fit
the control point epoch by epoch (its state stored after each epoch); evaluate every path on
the ``t`` grid (stored as it goes); store the barriers.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from landscape import store
from landscape.adaptive import AdaptiveObjective, check_tolerance, tolerance_config
from landscape.connect import align as alignment
from landscape.connect import curve as curves
from landscape.connect.barrier import check_grid, loss_barrier
from landscape.connect.path import (
    BNPathMode,
    CurveKind,
    evaluate_point,
    midpoint,
    path_coefficients,
    plane_frame,
    plane_point,
    recompute_batchnorm,
)
from landscape.connect.permutation import permutation_spec
from landscape.data import Data, SplitChoice
from landscape.errors import LandscapeError
from landscape.io import connect as io
from landscape.loading import file_sha256, load_checkpoint
from landscape.objective import Objective
from landscape.params import ParamDict, to_device
from landscape.progress import progress as progress_bar
from landscape.setup import load_objective

log = logging.getLogger(__name__)
FLUSH_SECONDS = 2.0
PLANE_MARGIN = 0.25
"""Margin around A, B and C on the plane's grid, as a fraction of their largest extent."""


@dataclass(frozen=True)
class _Path:
    """One path to evaluate: ``A + a (C - A) + b (B - A)`` with its kind's coefficients.

    Attributes:
        kind: ``linear``, ``bezier`` or ``polychain``.
        a: A's parameters.
        b: B's (aligned with ``align``).
        c: the control point (``None`` for the straight line).
        buffers: A's, B's and C's buffers (C's ``None`` for the straight line).

    """

    kind: str
    a: ParamDict
    b: ParamDict
    c: ParamDict | None
    buffers: tuple[ParamDict, ParamDict, ParamDict | None]


def connect(
    model: nn.Module | str,
    checkpoint: str | Path,
    target: str | Path,
    data: str | Data | Any = "mnist1d",
    *,
    out: str | Path,
    points: int = 21,
    align: bool = False,
    curve: CurveKind | None = None,
    curve_epochs: int = 10,
    curve_lr: float = 0.05,
    curve_momentum: float = 0.9,
    curve_batch_size: int = 128,
    plane: int = 15,
    seed: int = 0,
    bn: BNPathMode = "interp",
    bn_samples: int = 1000,
    loss: str = "cross_entropy",
    split: SplitChoice = "both",
    max_samples: int | None = None,
    batch_size: int = 1000,
    tolerance: float | None = None,
    device: str = "auto",
    overwrite: bool = False,
    trust_checkpoint: bool = False,
    progress: bool = True,
    command: str | None = None,
    task: str | None = None,
    output: str | None = None,
    accuracy: bool = True,
) -> io.Connection:
    """Evaluate the paths between checkpoints A and B and store them with their barriers.

    Args:
        model: an ``nn.Module`` or a model spec.
        checkpoint: A.
        target: B.
        data: a data spec or :class:`~landscape.data.Data`.
        out: the HDF5 file (resumed when made with the same settings).
        points: points on each path, ``t = 0 ... 1`` (at least 3).
        align: also the line from A to B with B's units permuted to match A.
        curve: also fit and evaluate a ``bezier`` or ``polychain`` curve from A to B (to the
            aligned B with ``align``).
        curve_epochs: epochs of the curve fit.
        curve_lr: its SGD learning rate.
        curve_momentum: its SGD momentum.
        curve_batch_size: its rows per step.
        plane: with ``curve``, the train loss on a ``plane x plane`` grid over the plane of A,
            B and the control point (0: none).
        seed: seed of the curve fit and of the alignment's visiting order (and ``max_samples``).
        bn: BatchNorm statistics ``interp`` (moved with the weights) or ``recompute`` (per point,
            from ``bn_samples`` rows of the train split).
        bn_samples: rows for ``recompute``.
        loss: loss spec.
        split: ``train``, ``test`` or ``both``.
        max_samples: evaluate on a fixed random subset of each split.
        batch_size: rows per forward pass.
        tolerance: evaluate each point of the paths only to this 95% half-width of its mean
            loss (:class:`~landscape.adaptive.AdaptiveObjective`, A as the reference point) and
            store the standard errors and rows used beside the values (``train_loss_se``,
            ``train_rows``, ...); the plane stays on all the data. ``None``: all the data.
        device: ``auto``, ``cpu``, ``cuda``, ...
        overwrite: replace an ``out`` made with different settings.
        trust_checkpoint: fully unpickle checkpoints (unsafe).
        progress: show progress bars.
        command: the command line for provenance.
        task: ``classification``, ``regression``, ``lm`` or ``mlm`` (``None``: from a Hugging
            Face model's class, else from ``loss``; see :class:`~landscape.objective.Objective`).
        output: the field of the model's output to score (``None``: the tensor, a tuple's
            first element, or ``logits``).
        accuracy: compute accuracy where it is defined.

    Returns:
        The stored :class:`~landscape.io.connect.Connection`.

    Raises:
        LandscapeError: for bad input, before anything is written.

    """
    t = np.linspace(0.0, 1.0, points) if points >= 1 else np.zeros(0)
    check_grid(t)
    check_tolerance(tolerance)
    settings = (
        curves.CurveSettings(curve, curve_epochs, curve_lr, curve_momentum, curve_batch_size, seed)
        if curve is not None
        else None
    )
    if plane < 0 or plane == 1:
        raise LandscapeError(f"plane: expected 0 (none) or at least 2 points a side (got {plane})")
    if bn not in ("interp", "recompute"):
        raise LandscapeError(f"bn: expected interp or recompute (got {bn!r})")
    path = Path(out)
    if path.is_dir():
        raise LandscapeError(f"--out: {path} is a directory; expected an HDF5 file")
    scoring = {"task": task, "output": output, "accuracy": accuracy}
    with store.writer_lock(path):
        loaded = load_objective(
            model,
            checkpoint,
            data,
            split=split,
            max_samples=max_samples,
            seed=seed,
            loss=loss,
            batch_size=batch_size,
            device=device,
            trust_checkpoint=trust_checkpoint,
            **scoring,
        )
        dev, evaluation, objectives = loaded.device, loaded.data, loaded.objectives
        if (curve is not None or bn == "recompute") and "train" not in evaluation.splits:
            raise LandscapeError("connect: --curve and --bn recompute need the train split")
        b_params, b_buf = load_checkpoint(loaded.model, target, trust=trust_checkpoint)
        a_params, a_buf = loaded.params, loaded.buffers
        b_params, b_buf = to_device(b_params, dev), to_device(b_buf, dev)
        config: dict[str, Any] = {
            "model": model if isinstance(model, str) else type(model).__qualname__,
            "checkpoint": {"sha256": file_sha256(checkpoint)},
            "target": {"sha256": file_sha256(target)},
            "data": {"source": evaluation.source, "sha256": evaluation.digests()},
            "points": points,
            "align": align,
            "curve": None if settings is None else settings.__dict__,
            "plane": plane if settings is not None else None,
            "bn": bn,
            "bn_samples": bn_samples if bn == "recompute" else None,
            "loss": loss,
            "batch_size": batch_size,
            "max_samples": max_samples,
            "split": split,
            "seed": seed,
            **Objective.changed_scoring(scoring),
            **tolerance_config(tolerance),
        }
        end_params, end_buf, perms = b_params, b_buf, None
        if align:
            first = next(iter(evaluation.splits.values()))
            spec = permutation_spec(
                objectives[next(iter(objectives))].model, a_params, a_buf, first.x[:2]
            )
            perms = alignment.weight_matching(spec, a_params, b_params, seed=seed)
            end_params = alignment.apply_permutations(spec, b_params, perms)
            end_buf = alignment.apply_permutations(spec, b_buf, perms)
        names = ["linear", *(["aligned"] if align else []), *(["curve"] if curve else [])]
        metrics = [
            m
            for s, obj in objectives.items()
            for m in (f"{s}_loss", *([f"{s}_acc"] if obj.has_accuracy else []))
        ]
        if tolerance is not None:
            metrics += [
                m
                for s, obj in objectives.items()
                for m in (
                    f"{s}_loss_se",
                    *([f"{s}_acc_se"] if obj.has_accuracy else []),
                    f"{s}_rows",
                )
            ]
        if not _resumable(path, config, overwrite):
            io.create(
                path,
                config=config,
                t=t,
                paths=names,
                metrics=metrics,
                checkpoint=str(checkpoint),
                target=str(target),
                command=command,
            )
            if perms is not None:
                io.write_alignment(path, _numpy(end_params), _numpy(end_buf), perms)
        paths = [_Path("linear", a_params, b_params, None, (a_buf, b_buf, None))]
        if align:
            paths.append(_Path("aligned", a_params, end_params, None, (a_buf, end_buf, None)))
        if settings is not None:
            c_buf = midpoint(a_buf, end_buf)
            control = _fit_curve(
                path,
                objectives["train"],
                a_params,
                end_params,
                (a_buf, end_buf, c_buf),
                settings=settings,
                progress=progress,
            )
            paths.append(
                _Path(settings.kind, a_params, end_params, control, (a_buf, end_buf, c_buf))
            )
        bn_rows = evaluation.splits["train"].x[:bn_samples] if bn == "recompute" else None
        state = io.read_connect(path).paths
        adaptive = None
        if tolerance is not None:
            a_stats = (
                recompute_batchnorm(next(iter(objectives.values())), a_params, a_buf, bn_rows)
                if bn_rows is not None
                else a_buf
            )
            adaptive = {
                s: AdaptiveObjective(obj, (a_params, a_stats), tolerance=tolerance, seed=seed)
                for s, obj in objectives.items()
            }
        for name, p in zip(names, paths, strict=True):
            _evaluate_path(
                path,
                name,
                p,
                t,
                state[name],
                objectives=objectives,
                bn=bn,
                bn_rows=bn_rows,
                progress=progress,
                adaptive=adaptive,
            )
        if settings is not None and plane:
            train = {"train": objectives["train"]}
            _evaluate_plane(
                path,
                paths[-1],
                t,
                n=plane,
                objectives=train,
                bn=bn,
                bn_rows=bn_rows,
                progress=progress,
            )
    return io.read_connect(path)


def _numpy(d: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in d.items()}


def _resumable(path: Path, config: Mapping[str, Any], overwrite: bool) -> bool:
    """Whether ``path`` holds this very connection (resume); refuse a foreign or different file."""
    if overwrite or not path.exists():
        return False
    if not io.holds_connect(path):
        raise LandscapeError(
            f"{path} exists but holds no landscape connection; pass --overwrite to replace it "
            "or choose another --out"
        )
    return store.check_resumable(path, io.GROUP, config, overwrite=False)


def _fit_curve(
    path: Path,
    objective: Objective,
    a: ParamDict,
    b: ParamDict,
    buffers: tuple[ParamDict, ParamDict, ParamDict],
    *,
    settings: curves.CurveSettings,
    progress: bool,
) -> ParamDict:
    """Fit (or resume fitting) the control point; its state is stored after every epoch."""
    state = io.read_curve_state(path) or curves.initial_state(a, b)
    fitter = curves.CurveFitter(objective, a, b, buffers, settings)
    with progress_bar(
        total=settings.epochs,
        initial=state.epochs_done,
        unit="epoch",
        desc=f"connect {path.name}: {settings.kind} fit",
        enabled=progress,
    ) as bar:
        while state.epochs_done < settings.epochs:
            state = fitter.epoch(state)
            io.write_curve_state(path, settings.kind, state)
            bar.update(1)
            bar.set_postfix(loss=f"{state.fit_loss[-1]:.4g}")
    dev = objective.device
    return {k: torch.as_tensor(v, device=dev) for k, v in state.control.items()}


def _evaluate_path(
    path: Path,
    name: str,
    p: _Path,
    t: np.ndarray,
    stored: io.PathValues,
    *,
    objectives: Mapping[str, Objective],
    bn: BNPathMode,
    bn_rows: torch.Tensor | None,
    progress: bool,
    adaptive: Mapping[str, AdaptiveObjective] | None = None,
) -> None:
    """Evaluate the points of one path not yet done, store them as they come, then the barriers."""
    values = {m: v.copy() for m, v in stored.values.items()}
    done = stored.done.copy()
    pending = np.flatnonzero(~done)
    kind = "linear" if p.c is None else p.kind
    with _throttled(lambda: io.write_values(path, {name: io.PathValues(values, done)})) as flush:
        for i in progress_bar(
            pending, desc=f"connect {path.name}: {name}", unit="pt", enabled=progress
        ):
            coef = path_coefficients(kind, float(t[i]))  # type: ignore[arg-type]
            params = plane_point(p.a, p.b, p.c, coef)
            buf_a, buf_b, buf_c = p.buffers
            buffers = plane_point(buf_a, buf_b, buf_c, coef)
            point = evaluate_point(
                objectives, params, buffers, bn=bn, bn_rows=bn_rows, adaptive=adaptive
            )
            for m, v in point.items():
                values[m][i] = v
            done[i] = True
            flush()
    barriers = {}
    for s in objectives:
        key = name if s == "train" else f"{name}_{s}"
        if np.all(np.isfinite(values[f"{s}_loss"])):
            b = loss_barrier(t, values[f"{s}_loss"])
            barriers[f"{key}_barrier"], barriers[f"{key}_barrier_t"] = b.height, b.t
        else:
            log.warning("%s: the %s loss is not finite along the path; no barrier", name, s)
    io.write_attrs(path, barriers)
    if "train" in objectives:
        log.info("%s barrier (train): %.4g", name, barriers.get(f"{name}_barrier", float("nan")))


def _evaluate_plane(
    path: Path,
    p: _Path,
    t: np.ndarray,
    *,
    n: int,
    objectives: Mapping[str, Objective],
    bn: BNPathMode,
    bn_rows: torch.Tensor | None,
    progress: bool,
) -> None:
    """The train loss on an ``n x n`` grid over the plane of A, B and C (resumable)."""
    assert p.c is not None
    frame = plane_frame(p.a, p.b, p.c)
    if frame is None:
        log.warning("the control point lies on the line from A to B; no plane to draw")
        return
    corners = np.array([(0.0, 0.0), (frame.v_norm, 0.0), (frame.ux, frame.uy)])
    curve = np.array([frame.coordinates(*path_coefficients(p.kind, float(v))) for v in t])  # type: ignore[arg-type]
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    pad = PLANE_MARGIN * float(np.max(hi - lo))  # the same on both axes: C may lie near the line
    x, y = (np.linspace(lo[i] - pad, hi[i] + pad, n) for i in (0, 1))
    stored = io.read_connect(path).plane
    if stored is None:
        stored = io.Plane(x, y, np.full((n, n), np.nan), np.zeros((n, n), bool), corners, curve)
        io.write_plane(path, stored)
    loss, done = stored.loss.copy(), stored.done.copy()
    pending = np.flatnonzero(~done.ravel())
    buf_a, buf_b, buf_c = p.buffers

    def write() -> None:
        io.write_plane(path, io.Plane(x, y, loss, done, corners, curve))

    with _throttled(write) as flush:
        for k in progress_bar(
            pending, desc=f"connect {path.name}: plane", unit="pt", enabled=progress
        ):
            iy, ix = divmod(int(k), n)
            coef = frame.coefficients(float(x[ix]), float(y[iy]))
            values = evaluate_point(
                objectives,
                plane_point(p.a, p.b, p.c, coef),
                plane_point(buf_a, buf_b, buf_c, coef),
                bn=bn,
                bn_rows=bn_rows,
            )
            loss[iy, ix], done[iy, ix] = values["train_loss"], True
            flush()


@contextlib.contextmanager
def _throttled(write: Callable[[], None]) -> Iterator[Callable[[], None]]:
    """A ``flush()`` that calls ``write`` at most every :data:`FLUSH_SECONDS`, and once at the end."""
    last = [time.monotonic()]

    def flush() -> None:
        if time.monotonic() - last[0] >= FLUSH_SECONDS:
            write()
            last[0] = time.monotonic()

    try:
        yield flush
    finally:
        write()
