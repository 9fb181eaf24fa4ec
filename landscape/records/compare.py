"""Records of a comparison of runs: summaries, series, stability, profiles, spectra, claims."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
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
        edge_epoch: the epoch in which the first sustained stretch at the edge of stability
            starts (:func:`landscape.dynamics.stability.edge_stretches`: at least a few
            consecutive records with the ratio at or above the report's edge fraction; epoch
            ``e`` runs from step checkpoint ``e - 1`` to ``e``); ``None`` without one.
        profile_rise: mean rise of the training loss at ``α = ±profile_radius``
            of the 1D filter-normalized profile (Li et al. 2018) over its centre.
        phases: detected phases of training.
        findings: detected problems (overfitting, divergence, ...).
        weight_norm: ``||w_T||`` over every trainable parameter at the last checkpoint.
        lambda_max_stderr: batch-means standard error of ``lambda_max``: ``s / sqrt(B)``
            over ``B`` disjoint sub-samples of the curvature rows, ``s`` the standard
            deviation of their λ_max (NaN when not measured).
        curvature_rows: training rows ``lambda_max`` was measured on.
        curvature_full: whether those rows are the whole training split.
        matched_epoch: epoch of the first measured checkpoint whose training loss is at most
            the comparison's matched level (``None``: never reached).
        matched_train_loss: the training loss at that checkpoint.
        lambda_max_matched: ``λ_max(H)`` at that checkpoint.
        stability_ratio_matched: sharpness over threshold at that checkpoint.
        edge_end_epoch: the epoch in which the last sustained edge stretch ends.
        edge_steps: optimizer steps spent at the edge: the sum over sustained stretches of
            the steps from their first record to their last.
        edge_epochs: the same in epochs.
        edge_share: ``edge_steps`` over the run's steps (NaN without sharpness records).
        edge_median_ratio: median ratio over the records of every sustained stretch.

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
    weight_norm: float = math.nan
    lambda_max_stderr: float = math.nan
    curvature_rows: int = 0
    curvature_full: bool = False
    matched_epoch: int | None = None
    matched_train_loss: float = math.nan
    lambda_max_matched: float = math.nan
    stability_ratio_matched: float = math.nan
    edge_end_epoch: int | None = None
    edge_steps: int = 0
    edge_epochs: float = 0.0
    edge_share: float = math.nan
    edge_median_ratio: float = math.nan

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
        rows: training rows the Hessian was measured on.
        full: whether those rows are the whole training split.
        batch_lambda_max: λ_max at the last checkpoint on each of ``B`` disjoint
            sub-samples of those rows (for the batch-means standard error).
        spectrum: top eigenvalues and SLQ density at the last checkpoint (``None``: not
            measured).

    """

    epoch: np.ndarray
    step: np.ndarray
    lambda_max: np.ndarray
    precond_lambda_max: np.ndarray
    threshold: np.ndarray
    trace: float
    trace_stderr: float
    rows: int = 0
    full: bool = False
    batch_lambda_max: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spectrum: RunSpectrum | None = None

    @property
    def lambda_max_stderr(self) -> float:
        """Batch-means standard error ``s / sqrt(B)`` of λ_max at the last checkpoint.

        ``s`` is the standard deviation of λ_max over ``B`` disjoint sub-samples of
        ``rows / B`` rows each; the variance of an average over ``rows`` rows is about
        ``1 / B`` that over ``rows / B`` (the batch-means rule), hence the ``sqrt(B)``.
        NaN with fewer than two sub-samples.

        >>> import numpy as np
        >>> c = CurvatureSeries(*[np.zeros(1)] * 5, 0.0, 0.0, 100, False, np.array([4.0, 6.0]))
        >>> round(c.lambda_max_stderr, 6)
        1.0
        """
        b = self.batch_lambda_max[np.isfinite(self.batch_lambda_max)]
        return float(np.std(b, ddof=1) / math.sqrt(b.size)) if b.size >= 2 else math.nan


@dataclass(frozen=True)
class RunSpectrum:
    """The Hessian spectrum of a run's final checkpoint (Lanczos top-k and SLQ density).

    Attributes:
        top: the ``k`` largest eigenvalues, largest first.
        grid: eigenvalue axis of the density (empty when no density was asked for).
        density: the SLQ density on ``grid`` (integrates to 1).
        num_matvecs: Hessian-vector products spent.
    """

    top: np.ndarray
    grid: np.ndarray
    density: np.ndarray
    num_matvecs: int


@dataclass(frozen=True)
class WeightNorms:
    """``||w_k||`` (every trainable parameter) at each of a run's checkpoints.

    Attributes:
        epoch: epoch of each checkpoint.
        step: optimizer step of each.
        norm: the weight norm at each.
    """

    epoch: np.ndarray
    step: np.ndarray
    norm: np.ndarray


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
    weights: WeightNorms | None = None
    spectrum: RunSpectrum | None = None


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
        matched_loss: the training-loss level at which sharpness is compared across runs
            (NaN when not measured).
        targets: how the targets were chosen, in words (e.g. ``0.5 x the median initial
            loss``).

    """

    path: Path
    config: dict[str, Any]
    train_target: float
    val_target: float
    runs: tuple[RunResult, ...]
    plane: Trajectory | None
    matched_loss: float = math.nan
    targets: str = ""

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
