"""What ``landscape compare`` measures, as frozen records, and their HDF5 form.

This module knows h5py and numpy only (no torch), so the report, the figures
and the explanation read a comparison without loading a model. The layout of
``compare.h5`` (besides the root provenance attributes of every file)::

    compare/                attrs: config (JSON), runs (JSON list), train_target, val_target
    compare/<run>/          attrs: summary (JSON of RunSummary)
                            datasets: epoch, step, train_loss, val_loss, train_acc, val_acc
    compare/<run>/stability attrs: source, preconditioned; datasets: epoch, step,
                            sharpness, lambda_max, threshold
    compare/<run>/profile   attrs: path (surface file, relative to compare.h5);
                            datasets: x, train_loss, test_loss
    curvature/              attrs: config (JSON)
    curvature/<run>/        attrs: fingerprint, trace, trace_stderr;
                            datasets: epoch, step, lambda_max, precond_lambda_max, threshold
    trajectory/             attrs: config (JSON), labels (JSON), origin_label, surface
                            (optional: ``plane.h5``, the training loss on the plane);
                            datasets: coords, epoch, step, run, residual, lambda_max,
                            explained_variance_ratio
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from landscape.dynamics.diagnose import Finding, Phase
from landscape.errors import LandscapeError
from landscape.store import config_json, open_read

COMPARE = "compare"
CURVATURE = "curvature"
TRAJECTORY = "trajectory"
SERIES_KEYS = ("epoch", "step", "train_loss", "val_loss", "train_acc", "val_acc")
STABILITY_KEYS = ("epoch", "step", "sharpness", "lambda_max", "threshold")
CURVATURE_KEYS = ("epoch", "step", "lambda_max", "precond_lambda_max", "threshold")


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
class PlanePaths:
    """Every run's checkpoints on one shared PCA plane, with λ_max at each.

    Attributes:
        coords: ``(n, 2)`` plane coordinates.
        epoch: ``(n,)`` epoch of each checkpoint.
        step: ``(n,)`` optimizer step of each checkpoint.
        run: ``(n,)`` index into ``labels``.
        labels: run names.
        residual: ``(n,)`` relative distance of each checkpoint from the plane.
        lambda_max: ``(n,)`` top Hessian eigenvalue at each checkpoint (NaN where not computed).
        explained_variance_ratio: of the two plane directions.
        origin_label: the run whose end is the plane's origin.
        surface: the training-loss surface on the plane (a surface file, relative to
            ``compare.h5``), or ``None``.

    """

    coords: np.ndarray
    epoch: np.ndarray
    step: np.ndarray
    run: np.ndarray
    labels: tuple[str, ...]
    residual: np.ndarray
    lambda_max: np.ndarray
    explained_variance_ratio: np.ndarray
    origin_label: str
    surface: str | None = None


@dataclass(frozen=True)
class Comparison:
    """A whole comparison: targets, every run's results and the shared plane.

    Attributes:
        path: the ``compare.h5`` file.
        config: the settings it was computed with.
        train_target: training-loss level of the convergence-speed measure.
        val_target: validation-loss level of it.
        runs: per-run results, in the order given.
        plane: the shared PCA plane (``None`` when fewer than 3 checkpoints in all).

    """

    path: Path
    config: dict[str, Any]
    train_target: float
    val_target: float
    runs: tuple[RunResult, ...]
    plane: PlanePaths | None

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


def first_reached(values: np.ndarray, target: float) -> int | None:
    """Index of the first finite value at or below ``target``, or ``None``.

    >>> first_reached(np.array([3.0, np.nan, 1.5, 0.9]), 1.5)
    2
    """
    hits = np.flatnonzero(np.isfinite(values) & (values <= target))
    return int(hits[0]) if hits.size else None


def write_comparison(f: h5py.File, comparison: Comparison) -> None:
    """Write the ``compare/`` and ``trajectory/`` groups of ``comparison`` into an open file."""
    for name in (COMPARE, TRAJECTORY):
        if name in f:
            del f[name]
    g = f.create_group(COMPARE)
    g.attrs["config"] = config_json(comparison.config)
    g.attrs["runs"] = json.dumps([r.summary.name for r in comparison.runs])
    g.attrs["train_target"] = comparison.train_target
    g.attrs["val_target"] = comparison.val_target
    for r in comparison.runs:
        rg = g.create_group(r.summary.name)
        rg.attrs["summary"] = r.summary.to_json()
        for k in SERIES_KEYS:
            rg.create_dataset(k, data=getattr(r.series, k))
        sg = rg.create_group("stability")
        sg.attrs["source"] = r.stability.source
        sg.attrs["preconditioned"] = r.stability.preconditioned
        for k in STABILITY_KEYS:
            sg.create_dataset(k, data=getattr(r.stability, k))
        if r.profile is not None:
            pg = rg.create_group("profile")
            pg.attrs["path"] = r.profile.path
            for k in ("x", "train_loss", "test_loss"):
                pg.create_dataset(k, data=getattr(r.profile, k))
    if comparison.plane is not None:
        p = comparison.plane
        tg = f.create_group(TRAJECTORY)
        tg.attrs["config"] = config_json({"kind": "shared pca plane", "origin": p.origin_label})
        tg.attrs["labels"] = json.dumps(list(p.labels))
        tg.attrs["origin_label"] = p.origin_label
        if p.surface is not None:
            tg.attrs["surface"] = p.surface
        for k in (
            "coords",
            "epoch",
            "step",
            "run",
            "residual",
            "lambda_max",
            "explained_variance_ratio",
        ):
            tg.create_dataset(k, data=getattr(p, k))


def read_comparison(path: str | Path) -> Comparison:
    """Read a ``compare.h5`` written by :func:`landscape.pipelines.compare.compare`.

    Raises:
        LandscapeError: if the file is missing or holds no comparison.

    """
    path = Path(path)
    with open_read(path) as f:
        if COMPARE not in f:
            raise LandscapeError(
                f"{path}: no '{COMPARE}' group; expected a file written by 'landscape compare'"
            )
        g = f[COMPARE]
        runs = []
        for name in json.loads(g.attrs["runs"]):
            rg = g[name]
            sg = rg["stability"]
            profile = None
            if "profile" in rg:
                pg = rg["profile"]
                profile = Profile(
                    str(pg.attrs["path"]), *(pg[k][()] for k in ("x", "train_loss", "test_loss"))
                )
            runs.append(
                RunResult(
                    summary=RunSummary.from_json(rg.attrs["summary"]),
                    series=Series(*(rg[k][()] for k in SERIES_KEYS)),
                    stability=Stability(
                        *(sg[k][()] for k in STABILITY_KEYS),
                        source=str(sg.attrs["source"]),  # type: ignore[arg-type]
                        preconditioned=bool(sg.attrs["preconditioned"]),
                    ),
                    profile=profile,
                )
            )
        plane = None
        if TRAJECTORY in f:
            t = f[TRAJECTORY]
            plane = PlanePaths(
                coords=t["coords"][()],
                epoch=t["epoch"][()],
                step=t["step"][()],
                run=t["run"][()],
                labels=tuple(json.loads(t.attrs["labels"])),
                residual=t["residual"][()],
                lambda_max=t["lambda_max"][()],
                explained_variance_ratio=t["explained_variance_ratio"][()],
                origin_label=str(t.attrs["origin_label"]),
                surface=str(t.attrs["surface"]) if "surface" in t.attrs else None,
            )
        return Comparison(
            path=path,
            config=json.loads(g.attrs["config"]),
            train_target=float(g.attrs["train_target"]),
            val_target=float(g.attrs["val_target"]),
            runs=tuple(runs),
            plane=plane,
        )
