"""Reduce recorded runs and their measured curvature to the numbers that compare them.

Convergence targets and labels, distance travelled ``sum_k ||w_{k+1} - w_k||``
and from initialization ``||w_T - w_0||``, sharpness against the optimizer's
stability threshold (Cohen et al. 2021, 2022), the rise of a 1D profile (Li et
al. 2018), and every run's :class:`~landscape.records.RunSummary`.
:mod:`landscape.pipelines.compare` measures what these reduce.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from landscape.curvature.preconditioned import ADAPTIVE
from landscape.dynamics.diagnose import Diagnosis, diagnose
from landscape.dynamics.runs import Run
from landscape.params import ParamDict, norm, subtract
from landscape.records import CurvatureSeries, Profile, RunSummary, Stability
from landscape.trajectory import RunPath

OPTIMIZER_NAMES = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
}
"""Display names of the optimizers."""


def first_reached(values: np.ndarray, target: float) -> int | None:
    """Index of the first finite value at or below ``target``, or ``None``.

    >>> first_reached(np.array([3.0, np.nan, 1.5, 0.9]), 1.5)
    2
    """
    hits = np.flatnonzero(np.isfinite(values) & (values <= target))
    return int(hits[0]) if hits.size else None


def median_best(curves: Sequence[np.ndarray]) -> float:
    """Return the median over runs of each run's lowest finite loss (the default target).

    >>> median_best([np.array([2.0, 1.0]), np.array([3.0, 0.5]), np.array([2.5, 2.0])])
    1.0
    """
    best = [float(np.nanmin(c)) for c in curves if np.isfinite(c).any()]
    return float(np.median(best)) if best else float("nan")


def run_label(optimizer: str, hparams: dict[str, Any], *, lr: bool = False) -> str:
    """Name a run by its optimizer, momentum when used, and (with ``lr``) learning rate.

    >>> run_label("sgd", {"lr": 0.05, "momentum": 0.9}), run_label("adam", {"lr": 0.01}, lr=True)
    ('SGD+momentum', 'Adam η=0.01')
    """
    name = OPTIMIZER_NAMES.get(optimizer, optimizer or "run")
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


def stability_series(run: Run, curv: CurvatureSeries) -> Stability:
    """Sharpness vs threshold over training: the run's probe records if any, else the checkpoints.

    For adaptive optimizers the sharpness compared with the threshold is the
    preconditioned one, ``λ_max(P^{-1} H)`` (Cohen et al. 2022); it is undefined at the
    initial checkpoint (step 0: the accumulators are still zero, so ``P^{-1}`` divides by
    ``eps`` alone), which is left out as NaN.
    """
    adaptive = run.optimizer in ADAPTIVE
    pr = run.probes
    if "lambda_max" in pr and "stability_threshold" in pr and np.isfinite(pr["lambda_max"]).any():
        steps = pr["step"].astype(np.float64)
        lam = pr["lambda_max"].astype(np.float64)
        thr = pr["stability_threshold"].astype(np.float64)
        sharp = (
            pr.get("precond_lambda_max", np.full_like(lam, np.nan)).astype(np.float64)
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
    sharp = (
        np.where(curv.step > 0, curv.precond_lambda_max, np.nan) if adaptive else curv.lambda_max
    )
    return Stability(
        curv.epoch, curv.step, sharp, curv.lambda_max, curv.threshold, "checkpoints", adaptive
    )


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
) -> RunSummary:
    """Reduce a run's curves and curvature to the numbers of the report.

    ``edge_fraction``: a stability ratio at least this counts as reaching the
    edge of stability; ``profile_radius``: the ``α`` at which the profile's rise is read.
    """
    ep = run.epochs
    e, s = ep["epoch"].astype(int), ep["step"].astype(int)
    tr, va = ep["train_loss"].astype(np.float64), ep["val_loss"].astype(np.float64)
    it, iv = first_reached(tr, train_target), first_reached(va, val_target)
    last = len(e) - 1
    ratio = stab.sharpness / stab.threshold
    edge = first_reached(-ratio, -edge_fraction)  # first ratio >= edge_fraction
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
        edge_epoch=None if edge is None else math.ceil(stab.epoch[edge]),
        profile_rise=float("nan")
        if profile is None
        else profile_rise(profile.x, profile.train_loss, profile_radius),
        phases=diagnosis.phases,
        findings=diagnosis.findings,
    )


def run_diagnosis(run: Run) -> Diagnosis:
    """The run's stored diagnosis (made with its own thresholds), else one with the defaults.

    The same rule as ``landscape plot``, so that a run gets one diagnosis everywhere.
    """
    return Diagnosis.from_dict(run.diagnosis) if run.diagnosis is not None else diagnose(run)
