"""Records of a comparison of runs: summaries, series, stability, profiles, claims."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from landscape.errors import LandscapeError
from landscape.records.dynamics import Finding, Phase
from landscape.records.surface import Trajectory


@dataclass(frozen=True)
class RunSummary:
    """The numbers of one run that the report tabulates and explains.

    Losses are full-split means in eval mode; ``val`` is the held-out split
    (MNIST-1D's test split). ``None`` means "never happened" (a target not
    reached, no epoch of instability); NaN means "not measurable".

    Attributes:
        name: run name (its directory's name).
        label: display label (optimizer and learning rate).
        optimizer: optimizer name (``sgd``, ``adam``, ...).
        lr: base learning rate.
        epochs: epochs completed.
        steps: optimizer steps taken.
        epochs_to_train_target: first epoch whose training loss is at most the train target.
        steps_to_train_target: optimizer steps at that epoch.
        epochs_to_val_target: first epoch whose validation loss is at most the val target.
        steps_to_val_target: optimizer steps at that epoch.
        final_train_loss: training loss at the last epoch (the surrogate J).
        final_train_acc: training accuracy at the last epoch.
        final_val_loss: validation loss at the last epoch.
        final_val_acc: validation accuracy at the last epoch (the measure P).
        loss_gap: generalization gap ``final_val_loss - final_train_loss``.
        acc_gap: ``final_train_acc - final_val_acc``.
        best_val_loss: lowest validation loss of the run.
        best_val_epoch: the epoch of it.
        distance_travelled: path length ``sum_k ||w_{k+1} - w_k||`` over the checkpoints.
        distance_from_init: ``||w_T - w_0||``.
        lambda_max: top Hessian eigenvalue of the training loss at the end.
        precond_lambda_max: ``λ_max(P^{-1} H)`` at the end for adaptive optimizers (NaN for SGD).
        trace: Hutchinson estimate of ``tr(H)`` at the end.
        trace_stderr: its standard error.
        threshold: the optimizer's stability threshold at the end (``2/η`` for SGD).
        stability_ratio: the optimizer's sharpness (preconditioned when adaptive)
            over its threshold at the end; 1 is the edge of stability.
        max_stability_ratio: the largest such ratio over training.
        edge_epoch: the epoch during which the ratio first reached the report's edge fraction
            (epoch ``e`` runs from step checkpoint ``e - 1`` to ``e``).
        profile_rise: mean rise of the training loss at ``α = ±profile_radius``
            of the 1D filter-normalized profile (Li et al. 2018) over its centre.
        phases: detected phases of training.
        findings: detected problems (overfitting, divergence, ...).

    """

    name: str
    label: str
    optimizer: str
    lr: float
    epochs: int
    steps: int
    epochs_to_train_target: int | None
    steps_to_train_target: int | None
    epochs_to_val_target: int | None
    steps_to_val_target: int | None
    final_train_loss: float
    final_train_acc: float
    final_val_loss: float
    final_val_acc: float
    loss_gap: float
    acc_gap: float
    best_val_loss: float
    best_val_epoch: int
    distance_travelled: float
    distance_from_init: float
    lambda_max: float
    precond_lambda_max: float
    trace: float
    trace_stderr: float
    threshold: float
    stability_ratio: float
    max_stability_ratio: float
    edge_epoch: int | None
    profile_rise: float
    phases: tuple[Phase, ...] = ()
    findings: tuple[Finding, ...] = ()

    def to_json(self) -> str:
        """Return the stored form (JSON; NaN kept as ``NaN``)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunSummary:
        """Rebuild a summary from :meth:`to_json` output."""
        d = json.loads(text)
        d["phases"] = tuple(Phase(**p) for p in d.get("phases", ()))
        d["findings"] = tuple(Finding(**f) for f in d.get("findings", ()))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class Series:
    """Per-epoch curves of a run (epoch 0 is the initial point)."""

    epoch: np.ndarray
    step: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    train_acc: np.ndarray
    val_acc: np.ndarray


@dataclass(frozen=True)
class Stability:
    """Sharpness against the stability threshold over training.

    Attributes:
        epoch: (fractional) epoch of each measurement.
        step: optimizer step of each measurement.
        sharpness: the sharpness compared with the threshold: ``λ_max(P^{-1} H)``
            for adaptive optimizers, ``λ_max(H)`` otherwise.
        lambda_max: ``λ_max(H)``.
        threshold: the optimizer's threshold at that step.
        source: ``probe`` (recorded during training) or ``checkpoints``.
        preconditioned: whether ``sharpness`` is preconditioned.

    """

    epoch: np.ndarray
    step: np.ndarray
    sharpness: np.ndarray
    lambda_max: np.ndarray
    threshold: np.ndarray
    source: Literal["probe", "checkpoints"]
    preconditioned: bool


@dataclass(frozen=True)
class CurvatureSeries:
    """λ_max, preconditioned λ_max and the stability threshold at a run's checkpoints.

    Attributes:
        epoch: epoch of each measured checkpoint.
        step: optimizer step of each.
        lambda_max: ``λ_max(H)`` at each.
        precond_lambda_max: ``λ_max(P^{-1} H)`` at each (NaN where there is no preconditioner).
        threshold: the optimizer's stability threshold at each.
        trace: Hutchinson estimate of ``tr(H)`` at the last checkpoint.
        trace_stderr: its standard error.

    """

    epoch: np.ndarray
    step: np.ndarray
    lambda_max: np.ndarray
    precond_lambda_max: np.ndarray
    threshold: np.ndarray
    trace: float
    trace_stderr: float


@dataclass(frozen=True)
class Profile:
    """The 1D filter-normalized loss profile around a run's final point."""

    path: str
    x: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray


@dataclass(frozen=True)
class RunResult:
    """Everything compare measured for one run."""

    summary: RunSummary
    series: Series
    stability: Stability
    profile: Profile | None


@dataclass(frozen=True)
class Comparison:
    """A whole comparison: targets, every run's results and the shared plane.

    Attributes:
        path: the ``compare.h5`` file.
        config: the settings it was computed with.
        train_target: training-loss level of the convergence-speed measure.
        val_target: validation-loss level of it.
        runs: per-run results, in the order given.
        plane: every run's checkpoints on one shared PCA plane, with λ_max at
            each (``None`` when fewer than 3 checkpoints in all).

    """

    path: Path
    config: dict[str, Any]
    train_target: float
    val_target: float
    runs: tuple[RunResult, ...]
    plane: Trajectory | None

    def run(self, name: str) -> RunResult:
        """Return the result of the run called ``name``.

        Raises:
            LandscapeError: if there is no such run.

        """
        for r in self.runs:
            if r.summary.name == name:
                return r
        names = ", ".join(r.summary.name for r in self.runs)
        raise LandscapeError(f"comparison: no run named {name!r} (expected one of {names})")


@dataclass(frozen=True)
class Claim:
    """One row of a report's ``findings`` table.

    Attributes:
        statement: The sentence, with its numbers.
        quantity: Key of the quantity it is about.
        runs: The contenders it concerns (one for an estimate, two for a difference).
        estimate: The mean (estimate) or the difference of means (difference).
        ci_low: Lower end of its interval (NaN when unknown).
        ci_high: Upper end of its interval (NaN when unknown).
        significant: For a difference, whether it survives the stated test; always False
            for an estimate.
        evidence: The figure or table it rests on.
        p_value: Holm-adjusted p-value of a difference; NaN for an estimate or an
            untestable difference.
    """

    statement: str
    quantity: str
    runs: tuple[str, ...]
    estimate: float
    ci_low: float
    ci_high: float
    significant: bool
    evidence: str
    p_value: float = math.nan
