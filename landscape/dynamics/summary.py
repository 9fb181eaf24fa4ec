"""Reduce recorded runs and their measured curvature to the numbers that compare them.

Convergence targets and labels, distance travelled ``sum_k ||w_{k+1} - w_k||``
and from initialization ``||w_T - w_0||``, weight norms ``||w_k||``, sharpness against the
optimizer's stability threshold (Cohen et al. 2021, 2022) with the sustained stretches at
the edge of stability, sharpness at a matched training loss, the rise of a 1D profile (Li
et al. 2018), and every run's :class:`~landscape.records.RunSummary`.
:mod:`landscape.pipelines.compare` measures what these reduce.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from landscape.dynamics.diagnose import Diagnosis, diagnose
from landscape.dynamics.runs import Run
from landscape.dynamics.stability import edge_stretches
from landscape.params import ParamDict, norm, subtract
from landscape.records import CurvatureSeries, Profile, RunSummary, Stability, WeightNorms
from landscape.records.optimizers import ADAPTIVE, DISPLAY_NAMES
from landscape.trajectory import RunPath


def first_reached(values: np.ndarray, target: float) -> int | None:
    """Index of the first finite value at or below ``target``, or ``None``.

    >>> first_reached(np.array([3.0, np.nan, 1.5, 0.9]), 1.5)
    2
    """
    hits = np.flatnonzero(np.isfinite(values) & (values <= target))
    return int(hits[0]) if hits.size else None


def initial_fraction_target(curves: Sequence[np.ndarray], fraction: float) -> float:
    """``fraction`` times the median over runs of each run's initial (epoch 0) loss.

    A target set from where the runs start, not from where they end, so that no run
    reaches it by construction (the median of the runs' own minima always has about half
    of them reach it).

    >>> initial_fraction_target([np.array([2.0, 1.0]), np.array([2.4, 0.5])], 0.5)
    1.1
    """
    first = [float(c[0]) for c in curves if len(c) and np.isfinite(c[0])]
    return fraction * float(np.median(first)) if first else float("nan")


def common_level(losses: Sequence[np.ndarray]) -> float:
    """The lowest training loss every run reaches: the largest of the runs' minima.

    >>> common_level([np.array([2.0, 0.5]), np.array([2.1, 0.8, 0.9])])
    0.8
    """
    best = [float(np.nanmin(v)) for v in losses if np.isfinite(v).any()]
    return max(best) if best else float("nan")


def checkpoint_losses(run: Run, epochs: np.ndarray) -> np.ndarray:
    """The recorded training loss at each checkpoint epoch (NaN where there is none).

    >>> import types
    >>> ep = {"epoch": np.array([0, 1, 2]), "train_loss": np.array([2.0, 1.0, 0.5])}
    >>> checkpoint_losses(types.SimpleNamespace(epochs=ep), np.array([0.0, 2.0, 7.0]))
    array([2. , 0.5, nan])
    """
    ep = run.epochs
    by_epoch = dict(
        zip(np.asarray(ep["epoch"]).astype(int).tolist(), ep["train_loss"], strict=True)
    )
    return np.array([float(by_epoch.get(int(e), np.nan)) for e in epochs], np.float64)


def run_label(optimizer: str, hparams: dict[str, Any], *, lr: bool = False) -> str:
    """Name a run by its optimizer, momentum when used, and (with ``lr``) learning rate.

    >>> run_label("sgd", {"lr": 0.05, "momentum": 0.9}), run_label("adam", {"lr": 0.01}, lr=True)
    ('SGD+momentum', 'Adam η=0.01')
    """
    name = DISPLAY_NAMES.get(optimizer, optimizer or "run")
    if optimizer == "sgd" and float(hparams.get("momentum", 0.0) or 0.0) > 0:
        name += "+momentum"
    rate = hparams.get("lr")
    return f"{name} η={float(rate):g}" if lr and rate is not None else name


def unique_labels(runs: Sequence[Run]) -> list[str]:
    """Short labels (optimizer names) when they tell the runs apart, else with η, else run names."""
    for with_lr in (False, True):
        labels = [run_label(r.optimizer, r.hparams, lr=with_lr) for r in runs]
        if len(set(labels)) == len(labels):
            return labels
    return [r.name for r in runs]


def select_checkpoints(run_path: RunPath, limit: int) -> list[int]:
    """Pick at most ``limit`` init and epoch checkpoints to measure, evenly spaced.

    >>> import types
    >>> kinds = ["init"] + ["epoch"] * 9
    >>> ckpts = [types.SimpleNamespace(kind=k) for k in kinds]
    >>> fake = types.SimpleNamespace(run=types.SimpleNamespace(checkpoints=ckpts))
    >>> select_checkpoints(fake, 4)
    [0, 3, 6, 9]
    """
    usable = [i for i, c in enumerate(run_path.run.checkpoints) if c.kind != "step"]
    if len(usable) <= limit:
        return usable
    picks = np.unique(np.round(np.linspace(0, len(usable) - 1, limit)).astype(int))
    return [usable[i] for i in picks]


def path_length(points: Sequence[ParamDict]) -> float:
    """Length of the polygonal path through ``points``, ``sum_k ||w_{k+1} - w_k||``.

    >>> import torch
    >>> pts = [[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]]
    >>> path_length([{"w": torch.tensor(p)} for p in pts])
    9.0
    """
    return float(sum(norm(subtract(b, a)) for a, b in itertools.pairwise(points)))


def profile_rise(x: np.ndarray, loss: np.ndarray, radius: float) -> float:
    """Mean rise of a 1D profile at ``α = ±radius`` over its value at ``α = 0`` (interpolated).

    >>> a = np.linspace(-1, 1, 5)
    >>> profile_rise(a, 2 * a**2 + 1, 0.5)   # 1.5 at α = ±0.5, 1 at α = 0
    0.5
    """
    if not np.isfinite(loss).all() or not (
        x.min() <= -radius and radius <= x.max() and x.min() <= 0 <= x.max()
    ):
        return float("nan")
    at = np.interp([-radius, 0.0, radius], x, loss)
    return float((at[0] + at[2]) / 2 - at[1])


def weight_norms(rp: RunPath) -> WeightNorms:
    """``||w_k||`` over every trainable parameter at each checkpoint of a run.

    >>> import torch, types
    >>> pts = ({"w": torch.tensor([3.0, 4.0])}, {"w": torch.tensor([0.0, 2.0])})
    >>> fake = types.SimpleNamespace(params=pts, epochs=np.array([0, 1]), steps=np.array([0, 5]))
    >>> weight_norms(fake).norm.tolist()
    [5.0, 2.0]
    """
    return WeightNorms(
        np.asarray(rp.epochs, np.float64),
        np.asarray(rp.steps, np.float64),
        np.array([norm(p) for p in rp.params], np.float64),
    )


def stability_series(run: Run, curv: CurvatureSeries) -> Stability:
    """Sharpness vs threshold over training: the run's probe records if any, else the checkpoints.

    For adaptive optimizers the sharpness compared with the threshold is the
    preconditioned one, ``λ_max(P^{-1} H)`` (Cohen et al. 2022); it is undefined at
    step 0 (the accumulators are still zero, so ``P^{-1}`` divides by ``eps`` alone:
    Adagrad's first probe record reads ~1e8 times its threshold), which is left out as
    NaN in both sources.
    """
    adaptive = run.optimizer in ADAPTIVE
    pr = run.probes
    if "lambda_max" in pr and "stability_threshold" in pr and np.isfinite(pr["lambda_max"]).any():
        steps = pr["step"].astype(np.float64)
        lam = pr["lambda_max"].astype(np.float64)
        thr = pr["stability_threshold"].astype(np.float64)
        sharp = (
            np.where(
                steps > 0,
                pr.get("precond_lambda_max", np.full_like(lam, np.nan)).astype(np.float64),
                np.nan,
            )
            if adaptive
            else lam
        )
        ep = run.epochs
        epoch = (
            np.interp(steps, ep["step"].astype(np.float64), ep["epoch"].astype(np.float64))
            if "step" in ep
            else steps
        )
        return Stability(epoch, steps, sharp, lam, thr, "probe", adaptive)
    return Stability(
        curv.epoch,
        curv.step,
        checkpoint_sharpness(run, curv),
        curv.lambda_max,
        curv.threshold,
        "checkpoints",
        adaptive,
    )


@dataclass(frozen=True)
class EdgeTime:
    """How long a run sat at the edge of stability, from its sustained stretches.

    Attributes:
        start_epoch: epoch in which the first stretch starts (``None``: no stretch).
        end_epoch: epoch in which the last stretch ends.
        steps: steps from first to last record, summed over the stretches.
        epochs: the same in epochs.
        share: ``steps`` over the run's steps (NaN without a finite ratio).
        median_ratio: median sharpness / threshold over the stretches' records.
    """

    start_epoch: int | None
    end_epoch: int | None
    steps: int
    epochs: float
    share: float
    median_ratio: float

    def summary_fields(self) -> dict[str, Any]:
        """This record under the names of :class:`~landscape.records.RunSummary`'s fields."""
        return {
            "edge_epoch": self.start_epoch,
            "edge_end_epoch": self.end_epoch,
            "edge_steps": self.steps,
            "edge_epochs": self.epochs,
            "edge_share": self.share,
            "edge_median_ratio": self.median_ratio,
        }


def edge_time(
    stab: Stability, total_steps: int, *, edge_fraction: float, min_records: int
) -> EdgeTime:
    """Time at the edge of stability, from its sustained stretches.

    A stretch is at least ``min_records`` consecutive records at or above ``edge_fraction``
    times the threshold (:func:`~landscape.dynamics.stability.edge_stretches`). A single
    record above the threshold (e.g. an adaptive method's first steps) is not a stretch;
    the records of a stretch span ``step[last] - step[first]`` steps.

    >>> st = Stability(np.arange(6.0) / 2, np.arange(6.0) * 10, np.array([1, 5, 1.9, 2, 2, 1.0]),
    ...                np.zeros(6), np.full(6, 2.0), "probe", False)
    >>> e = edge_time(st, 100, edge_fraction=0.9, min_records=3)
    >>> e.start_epoch, e.end_epoch, e.steps, e.epochs, e.share
    (1, 2, 30, 1.5, 0.3)
    """
    ratio = stab.sharpness / stab.threshold
    stretches = edge_stretches(
        stab.sharpness, stab.threshold, band=1.0 - edge_fraction, min_records=min_records
    )
    share = math.nan if not np.isfinite(ratio).any() or total_steps <= 0 else 0.0
    if not stretches:
        return EdgeTime(None, None, 0, 0.0, share, math.nan)
    steps = int(sum(stab.step[e.end] - stab.step[e.start] for e in stretches))
    epochs = float(sum(stab.epoch[e.end] - stab.epoch[e.start] for e in stretches))
    inside = np.concatenate([ratio[e.start : e.end + 1] for e in stretches])
    return EdgeTime(
        start_epoch=math.ceil(stab.epoch[stretches[0].start]),
        end_epoch=math.ceil(stab.epoch[stretches[-1].end]),
        steps=steps,
        epochs=epochs,
        share=steps / total_steps,
        median_ratio=float(np.median(inside)),
    )


@dataclass(frozen=True)
class MatchedPoint:
    """The measured checkpoint of a run where its training loss first reaches a common level.

    Attributes:
        index: position in the run's curvature series (``None``: never reached).
        epoch: its epoch.
        train_loss: its training loss.
        lambda_max: ``λ_max(H)`` there.
        stability_ratio: sharpness over threshold there.
    """

    index: int | None
    epoch: int | None
    train_loss: float
    lambda_max: float
    stability_ratio: float

    def summary_fields(self) -> dict[str, Any]:
        """This record under the names of :class:`~landscape.records.RunSummary`'s fields."""
        return {
            "matched_epoch": self.epoch,
            "matched_train_loss": self.train_loss,
            "lambda_max_matched": self.lambda_max,
            "stability_ratio_matched": self.stability_ratio,
        }


def matched_point(
    run: Run, curv: CurvatureSeries, stab_sharpness: np.ndarray, level: float
) -> MatchedPoint:
    """The first measured checkpoint whose training loss is at most ``level``.

    ``stab_sharpness`` is the sharpness compared with the threshold at each measured
    checkpoint (preconditioned for adaptive methods, NaN where undefined).
    """
    losses = checkpoint_losses(run, curv.epoch)
    i = first_reached(losses, level) if math.isfinite(level) else None
    if i is None:
        return MatchedPoint(None, None, math.nan, math.nan, math.nan)
    return MatchedPoint(
        i,
        int(curv.epoch[i]),
        float(losses[i]),
        float(curv.lambda_max[i]),
        float(stab_sharpness[i] / curv.threshold[i]) if curv.threshold[i] else math.nan,
    )


def checkpoint_sharpness(run: Run, curv: CurvatureSeries) -> np.ndarray:
    """The sharpness compared with the threshold at each measured checkpoint.

    ``λ_max(P^{-1} H)`` for adaptive optimizers (NaN at step 0), ``λ_max(H)`` otherwise.
    """
    if run.optimizer in ADAPTIVE:
        return np.where(curv.step > 0, curv.precond_lambda_max, np.nan)
    return np.asarray(curv.lambda_max, np.float64)


def summarize(
    run: Run,
    rp: RunPath,
    curv: CurvatureSeries,
    stab: Stability,
    profile: Profile | None,
    *,
    train_target: float,
    val_target: float,
    edge_fraction: float,
    profile_radius: float,
    diagnosis: Diagnosis,
    label: str,
    matched_loss: float = math.nan,
    edge_records: int = 3,
) -> RunSummary:
    """Reduce a run's curves and curvature to the numbers of the report.

    ``edge_fraction``: a stability ratio at least this counts as at the edge of
    stability, for at least ``edge_records`` consecutive records (:func:`edge_time`);
    ``profile_radius``: the ``α`` at which the profile's rise is read; ``matched_loss``:
    the training-loss level at which sharpness is also read (:func:`matched_point`).
    """
    ep = run.epochs
    e, s = ep["epoch"].astype(int), ep["step"].astype(int)
    tr, va = ep["train_loss"].astype(np.float64), ep["val_loss"].astype(np.float64)
    it, iv = first_reached(tr, train_target), first_reached(va, val_target)
    last = len(e) - 1
    ratio = stab.sharpness / stab.threshold
    edge = edge_time(stab, int(s[last]), edge_fraction=edge_fraction, min_records=edge_records)
    finite_ratio = ratio[np.isfinite(ratio)]
    best = int(np.nanargmin(va)) if np.isfinite(va).any() else last
    end = (
        int(np.flatnonzero(np.isfinite(curv.lambda_max))[-1])
        if np.isfinite(curv.lambda_max).any()
        else -1
    )
    precond = float(curv.precond_lambda_max[end]) if end >= 0 else float("nan")
    sharp_end = (
        precond
        if stab.preconditioned
        else (float(curv.lambda_max[end]) if end >= 0 else float("nan"))
    )
    threshold = float(curv.threshold[end]) if end >= 0 else float("nan")
    matched = matched_point(run, curv, checkpoint_sharpness(run, curv), matched_loss)
    return RunSummary(
        name=run.name,
        label=label,
        optimizer=run.optimizer,
        lr=float(run.hparams.get("lr", float("nan"))),
        epochs=run.num_epochs,
        steps=int(s[last]),
        epochs_to_train_target=None if it is None else int(e[it]),
        steps_to_train_target=None if it is None else int(s[it]),
        epochs_to_val_target=None if iv is None else int(e[iv]),
        steps_to_val_target=None if iv is None else int(s[iv]),
        final_train_loss=float(tr[last]),
        final_train_acc=float(ep["train_acc"][last]),
        final_val_loss=float(va[last]),
        final_val_acc=float(ep["val_acc"][last]),
        loss_gap=float(va[last] - tr[last]),
        acc_gap=float(ep["train_acc"][last] - ep["val_acc"][last]),
        best_val_loss=float(va[best]),
        best_val_epoch=int(e[best]),
        distance_travelled=path_length(rp.params),
        distance_from_init=norm(subtract(rp.params[-1], rp.params[0])),
        lambda_max=float(curv.lambda_max[end]) if end >= 0 else float("nan"),
        precond_lambda_max=precond,
        trace=curv.trace,
        trace_stderr=curv.trace_stderr,
        threshold=threshold,
        stability_ratio=sharp_end / threshold if threshold else float("nan"),
        max_stability_ratio=float(finite_ratio.max()) if finite_ratio.size else float("nan"),
        profile_rise=float("nan")
        if profile is None
        else profile_rise(profile.x, profile.train_loss, profile_radius),
        phases=diagnosis.phases,
        findings=diagnosis.findings,
        weight_norm=norm(rp.params[-1]),
        lambda_max_stderr=curv.lambda_max_stderr,
        curvature_rows=curv.rows,
        curvature_full=curv.full,
        **edge.summary_fields(),
        **matched.summary_fields(),
    )


def run_diagnosis(run: Run) -> Diagnosis:
    """The run's stored diagnosis (made with its own thresholds), else one with the defaults.

    The same rule as ``landscape plot``, so that a run gets one diagnosis everywhere.
    """
    return Diagnosis.from_dict(run.diagnosis) if run.diagnosis is not None else diagnose(run)
