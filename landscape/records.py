"""Torch-free result records, at the bottom of the stack: what io reads and writes.

Every record is a frozen dataclass of numpy arrays and plain Python values, so
:mod:`landscape.io`, :mod:`landscape.report` and :mod:`landscape.plotting`
use them without importing torch. The maths keeps its own tensor types where
it needs them (e.g. :class:`landscape.curvature.results.EigenResult` with
tensor eigenvectors for warm starts) and converts at the pipeline boundary.

Counts of operator applications are called ``num_matvecs`` everywhere.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from landscape.errors import LandscapeError

Source = Literal["landscape", "li2018"]
"""Who wrote a surface file: landscape, or the reference code of Li et al. 2018."""


@dataclass(frozen=True)
class Surface:
    """A (possibly partial) loss surface on a 1D or 2D grid.

    Attributes:
        x: coordinates along the first direction, shape ``(nx,)``.
        y: coordinates along the second direction, shape ``(ny,)``; ``None`` for 1D.
        values: metric name (``train_loss``, ``train_acc``, ``test_loss``,
            ``test_acc``, ...) -> array of shape ``(nx,)`` or ``(ny, nx)``
            (indexed ``[iy, ix]``); NaN where not computed or not finite.
        done: which points are computed, same shape as the values.
        origin: metric name -> value at the reference point (the checkpoint itself).
        path: the HDF5 file it lives in, if any.
        source: ``landscape`` or ``li2018`` (the reference implementation).
        attrs: root attributes of the file (provenance); empty for Li et al. files.
        config: the ``surface/`` configuration; empty if absent.
        directions: attributes of ``directions/`` (kind, norm, seed, ...).
        vectors: the name-keyed directions themselves, when they were asked for.

    """

    x: np.ndarray
    y: np.ndarray | None
    values: dict[str, np.ndarray]
    done: np.ndarray
    origin: dict[str, float] = field(default_factory=dict)
    path: Path | None = None
    source: Source = "landscape"
    attrs: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    directions: dict[str, Any] = field(default_factory=dict)
    vectors: tuple[dict[str, np.ndarray], ...] = ()

    @property
    def ndim(self) -> int:
        """1 for a curve, 2 for a plane."""
        return 1 if self.y is None else 2

    @property
    def shape(self) -> tuple[int, ...]:
        """``(nx,)`` for 1D, ``(ny, nx)`` for 2D."""
        return (len(self.x),) if self.y is None else (len(self.y), len(self.x))

    @property
    def complete(self) -> bool:
        """Whether every point has been computed."""
        return bool(self.done.all())

    @property
    def metrics(self) -> list[str]:
        """Metric names in display order (known names first)."""
        return list(self.values)

    def metric(self, name: str | None = None) -> tuple[str, np.ndarray]:
        """Look up a metric by name; ``None`` picks ``train_loss`` or the first loss held.

        Raises:
            LandscapeError: if the surface has no such metric.

        """
        if name is None:
            losses = [m for m in self.values if m.endswith("loss")]
            name = losses[0] if losses else next(iter(self.values))
        if name not in self.values:
            raise LandscapeError(
                f"{self.path}: no metric {name!r} (expected one of {', '.join(self.values)})"
            )
        return name, self.values[name]

    def coordinates(self, index: tuple[int, ...]) -> list[float]:
        """Grid coordinates of an array index (``(ix,)`` or ``(iy, ix)``).

        >>> s = Surface(np.array([0.0, 1.0]), np.array([5.0, 6.0, 7.0]), {}, np.zeros((3, 2)))
        >>> s.coordinates((2, 1))
        [1.0, 7.0]
        """
        if self.y is None:
            return [float(self.x[index[0]])]
        return [float(self.x[index[1]]), float(self.y[index[0]])]


@dataclass(frozen=True)
class Trajectory:
    """Checkpoints of one or several runs projected onto a plane.

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
        lambda_max: ``(n,)`` top Hessian eigenvalue at each checkpoint (NaN where
            not computed), when measured (``landscape compare``).
        surface: a surface file of the training loss on the plane (relative to
            the file holding the trajectory), if one was computed separately.

    """

    coords: np.ndarray
    epochs: np.ndarray
    steps: np.ndarray
    run: np.ndarray
    labels: tuple[str, ...]
    residual: np.ndarray
    explained_variance_ratio: np.ndarray
    origin_label: str
    lambda_max: np.ndarray | None = None
    surface: str | None = None


@dataclass(frozen=True)
class Eigenpairs:
    """Eigenpairs of the Hessian as stored: values, name-keyed vectors, how they converged.

    Attributes:
        eigenvalues: ``(k,)`` float64, largest first (top end) or smallest first (bottom end).
        eigenvectors: ``k`` unit vectors, each a parameter name -> array dict.
        residuals: ``(k,)`` residual norms ``||H v_i - λ_i v_i||``.
        converged: ``(k,)`` whether each residual met the tolerance.
        num_matvecs: operator applications (Hessian-vector products) spent.
        tol: the relative residual tolerance used.

    """

    eigenvalues: np.ndarray
    eigenvectors: tuple[dict[str, np.ndarray], ...]
    residuals: np.ndarray
    converged: np.ndarray
    num_matvecs: int
    tol: float


@dataclass(frozen=True)
class TraceEstimate:
    """A stochastic estimate of ``tr(H)``.

    Attributes:
        estimate: the trace estimate.
        std_error: its standard error (sample standard deviation of the
            stochastic part over the square root of its sample count).
        num_matvecs: operator applications spent.
        method: ``hutchinson`` or ``hutch++``.

    """

    estimate: float
    std_error: float
    num_matvecs: int
    method: str


@dataclass(frozen=True)
class SpectralDensity:
    """A smoothed eigenvalue density from stochastic Lanczos quadrature.

    Attributes:
        grid: ``(num_points,)`` eigenvalue axis.
        density: ``(num_points,)`` density on ``grid`` (integrates to 1).
        nodes: ``(num_runs, num_steps)`` Ritz values of each run.
        weights: ``(num_runs, num_steps)`` quadrature weights (each row sums to 1).
        sigma: the Gaussian smoothing width (in eigenvalue units).
        num_matvecs: operator applications spent.

    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    num_matvecs: int


@dataclass(frozen=True)
class Spectrum:
    """What ``landscape hessian`` computes and stores (``None`` for stages not asked for)."""

    top: Eigenpairs
    bottom: Eigenpairs | None = None
    trace: TraceEstimate | None = None
    density: SpectralDensity | None = None


@dataclass(frozen=True)
class Sharpness:
    """One sharpness value with how it was measured.

    Attributes:
        measure: its name (``keskar``, ``adaptive_worst``, ...).
        value: the number.
        std_error: Monte-Carlo standard error (NaN for deterministic measures).
        settings: every parameter that shaped the value.
        citation: where the definition comes from.

    """

    measure: str
    value: float
    std_error: float = float("nan")
    settings: dict[str, Any] = field(default_factory=dict)
    citation: str = ""


@dataclass(frozen=True)
class TaylorModel:
    """The quadratic model ``L0 + g·d + ½ dᵀHd`` of the loss on a surface grid.

    Attributes:
        values: the model on the grid (surface shape).
        residual: ``train_loss - values`` (NaN where the surface is missing).
        loss0: ``L(w0)``.
        slopes: ``g·d_i`` per direction.
        curvatures: the matrix ``d_iᵀ H d_j``.

    """

    values: np.ndarray
    residual: np.ndarray
    loss0: float
    slopes: np.ndarray
    curvatures: np.ndarray


@dataclass(frozen=True)
class CurvatureMap:
    """λ_max, λ_min and ``|λ_min/λ_max|`` at each grid point (NaN where not done)."""

    lambda_max: np.ndarray
    lambda_min: np.ndarray
    ratio: np.ndarray
    done: np.ndarray


PhaseName = Literal["fast initial learning", "gradual adjustment", "convergence"]
FindingKind = Literal[
    "overfitting",
    "exploding gradients",
    "vanishing gradients",
    "divergence",
    "plateau",
    "edge of stability",
]


@dataclass(frozen=True)
class Phase:
    """A stretch of training: ``name`` from ``start_epoch`` up to (excluding) ``end_epoch``.

    The last phase ends at the last epoch, inclusive.
    """

    name: PhaseName
    start_epoch: int
    end_epoch: int


@dataclass(frozen=True)
class Finding:
    """A detected event: ``kind`` beginning at ``start_epoch`` (and ending at ``end_epoch``)."""

    kind: FindingKind
    start_epoch: int
    end_epoch: int | None
    detail: str


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
