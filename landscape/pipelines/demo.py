"""``landscape demo``: the embedded default, no download, CPU in minutes.

On MNIST-1D (Greydanus 2020, generated locally) the demo

1. chooses each optimizer's learning rate (SGD, SGD+momentum, Adagrad, RMSprop, Adam) by
   its own sweep (:func:`landscape.pipelines.lr_sweep.run_sweep`: short runs of one seed
   over a grid, extended at an edge, criterion
   :data:`landscape.dynamics.lr_sweep.CRITERION`);
2. trains the same MLP with each optimizer at its chosen rate from several seeds (a seed
   group per optimizer, as ``landscape train --seeds`` writes it), recording dynamics and
   sharpness along training;
3. runs full-batch gradient descent with one-hot squared error and a sharpness probe on
   every training row, where λ_max rises to 2/η and stays there (the edge of stability,
   Cohen et al. 2021);
4. compares the seed groups (:func:`landscape.pipelines.compare.compare`: means with
   intervals over seeds, differences under Welch's test with Holm's correction) and writes
   the report, with the learning-rate protocol, the edge of stability and the provenance.

The skip/no-skip ResNet pair of earlier versions is left out: within the demo's budget a
network deep enough for the effect of Li et al. 2018 could not be trained on 2 CPU cores,
and the shallow pair showed two equally smooth basins. Everything resumes: a re-run
reuses finished runs, curvature and surfaces.

Layout of ``OUT``::

    sweep/<optimizer>/lr-<lr>/   the learning-rate sweep's runs
    runs/<optimizer>/seed-N/     run.h5 + checkpoints/ of each optimizer and seed
    gd/                          the full-batch gradient-descent run
    report/                      compare.h5, profiles/, figures/, index.html, report.md
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, get_args

import torch

from landscape.data import load_data
from landscape.dynamics.train import TrainConfig, train
from landscape.errors import LandscapeError
from landscape.io.groups import SEED_DIR
from landscape.pipelines.compare import CompareConfig, compare
from landscape.pipelines.lr_sweep import SweepSpec, run_sweep
from landscape.records import Comparison
from landscape.records.provenance import Environment
from landscape.records.sweep import LrSweep
from landscape.report.document import ReportFiles, write_report

Size = Literal["quick", "default", "full"]
SIZES: tuple[str, ...] = get_args(Size)


@dataclass(frozen=True)
class DemoRun:
    """One optimizer of the demo: run name, optimizer, learning-rate grid, momentum."""

    name: str
    optimizer: Literal["sgd", "adagrad", "rmsprop", "adam"]
    grid: tuple[float, ...]
    momentum: float = 0.0


OPTIMIZER_RUNS: tuple[DemoRun, ...] = (
    DemoRun("sgd", "sgd", (0.1, 0.2, 0.5, 1.0)),
    DemoRun("sgd-momentum", "sgd", (0.01, 0.02, 0.05, 0.1), momentum=0.9),
    DemoRun("adagrad", "adagrad", (0.02, 0.05, 0.1, 0.2)),
    DemoRun("rmsprop", "rmsprop", (3e-4, 1e-3, 3e-3, 1e-2)),
    DemoRun("adam", "adam", (1e-3, 3e-3, 1e-2, 3e-2)),
)
"""The five optimizers with the learning-rate grids the demo's own sweep starts from
(:func:`landscape.pipelines.lr_sweep.run_sweep`, extended at an edge)."""

SEED = 0
"""Seed of the gradient-descent run, directions and estimators."""
SWEEP_SEED = 100
"""Seed of the learning-rate sweep's runs (not one of the compared seeds)."""
GD_LOSS = "mse"
"""Loss of the gradient-descent run: one-hot squared error, as Cohen et al. 2021 use it."""


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is (the defaults are the default size).

    Attributes:
        epochs: epochs of each optimizer run.
        max_samples: training/validation rows (``None``: all of MNIST-1D, 4000/1000).
        batch_size: mini-batch size.
        track_every: record λ_max (and the preconditioned λ_max) every this many steps.
        sharpness_subset: training rows of that measurement.
        seeds: seeds of each optimizer (a seed group ``runs/<name>/seed-N/``).
        sweep_extensions: most steps the learning-rate sweep may extend a grid by.
        gd_lr: step size η of the full-batch gradient-descent run.
        gd_steps: its steps (one per epoch).
        gd_rows: its training rows (λ_max is measured on all of them).
        gd_probe_every: it records λ_max every this many steps.
        compare: settings of the comparison.

    """

    epochs: int = 20
    max_samples: int | None = None
    batch_size: int = 128
    track_every: int = 16
    sharpness_subset: int = 256
    seeds: tuple[int, ...] = (0, 1, 2)
    sweep_extensions: int = 2
    gd_lr: float = 0.3
    gd_steps: int = 300
    gd_rows: int = 1000
    gd_probe_every: int = 10
    compare: CompareConfig = field(
        default_factory=lambda: CompareConfig(
            max_checkpoints=11, trace_probes=30, plane_resolution=21, plane_samples=1000
        )
    )


DEMO_SIZES: dict[str, DemoSize] = {
    "quick": DemoSize(
        epochs=4,
        max_samples=600,
        batch_size=100,
        track_every=6,
        sharpness_subset=128,
        seeds=(0, 1),
        sweep_extensions=1,
        gd_steps=20,
        gd_rows=200,
        gd_probe_every=2,
        compare=CompareConfig(
            curvature_samples=200,
            max_checkpoints=5,
            trace_probes=6,
            profile_grid="-1:1:7",
            profile_samples=300,
            plane_resolution=5,
            plane_samples=300,
        ),
    ),
    "default": DemoSize(),
    "full": DemoSize(
        epochs=50,
        max_samples=None,
        batch_size=128,
        track_every=8,
        sharpness_subset=1000,
        seeds=(0, 1, 2, 3, 4),
        gd_steps=1000,
        compare=CompareConfig(
            max_checkpoints=26, trace_probes=100, profile_grid="-1:1:41", plane_resolution=31
        ),
    ),
}
"""``--quick`` (under a minute on 2 CPU cores, for tests), default (a few minutes), ``--full``."""


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes:
        out: the demo folder.
        runs: the optimizer seed groups (``runs/<name>/``, members ``seed-N/``).
        sweep: the learning-rate sweep that chose each optimizer's rate.
        gd_run: the full-batch gradient-descent run.
        comparison: the comparison as stored in ``report/compare.h5``.
        report: the report's files.

    """

    out: Path
    runs: tuple[Path, ...]
    sweep: LrSweep
    gd_run: Path
    comparison: Comparison
    report: ReportFiles


def run_demo(
    out: str | Path,
    *,
    size: Size = "default",
    device: str = "auto",
    progress: bool = True,
    overwrite: bool = False,
    threads: int | None = 1,
    command: str | None = None,
) -> DemoResult:
    """Sweep, train and compare the five optimizers, run gradient descent, write the report.

    Args:
        out: the demo folder (see the module docstring for its layout).
        size: ``quick``, ``default`` or ``full``.
        device: torch device (``auto``: CUDA when present).
        progress: show progress bars.
        overwrite: replace runs and results made with other settings (another size).
        threads: torch CPU threads while the demo runs, restored after (1 is the
            fastest for its tiny models: see ``scripts/bench_report.py``;
            ``None`` leaves torch's setting).
        command: command line for provenance.

    Raises:
        LandscapeError: for an unknown size, or an ``out`` holding a demo of
            another size (without ``overwrite``).

    """
    from landscape.devices import resolve_device

    if size not in SIZES:
        raise LandscapeError(f"size: expected one of {', '.join(SIZES)} (got {size!r})")
    if threads is not None and threads < 1:
        raise LandscapeError(f"threads: expected a positive integer (got {threads})")
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run(
            out,
            DEMO_SIZES[size],
            device=resolve_device(device),
            progress=progress,
            overwrite=overwrite,
            command=command,
        )
    finally:
        torch.set_num_threads(previous)


def _run(
    out: str | Path,
    s: DemoSize,
    *,
    device: torch.device,
    progress: bool,
    overwrite: bool,
    command: str | None,
) -> DemoResult:
    dev = str(device)
    out = Path(out).resolve()  # run directories enter trajectory configs: keep them cwd-independent
    base = TrainConfig(
        data="mnist1d",
        model="mlp",
        epochs=s.epochs,
        batch_size=s.batch_size,
        seed=SEED,
        max_samples=s.max_samples,
        track_sharpness=s.track_every,
        sharpness_subset=s.sharpness_subset,
    )
    sweep = run_sweep(
        [SweepSpec(r.name, r.optimizer, r.grid, r.momentum) for r in OPTIMIZER_RUNS],
        replace(base, seed=SWEEP_SEED),
        out / "sweep",
        max_extensions=s.sweep_extensions,
        device=dev,
        progress=progress,
        overwrite=overwrite,
        command=command,
    )
    chosen = {c.name: c.chosen for c in sweep.curves}
    runs = []
    for r in OPTIMIZER_RUNS:
        group = out / "runs" / r.name
        for seed in s.seeds:
            config = replace(
                base, optimizer=r.optimizer, lr=chosen[r.name], momentum=r.momentum, seed=seed
            )
            _train(
                config,
                group / f"{SEED_DIR}{seed}",
                r.name,
                device=dev,
                progress=progress,
                overwrite=overwrite,
                command=command,
            )
        runs.append(group)
    gd = out / "gd"
    gd_config = replace(
        base,
        optimizer="sgd",
        lr=s.gd_lr,
        epochs=s.gd_steps,
        batch_size=None,
        loss=GD_LOSS,
        max_samples=s.gd_rows,
        eval_every=max(1, s.gd_steps // 10),
        checkpoint_every=s.gd_steps,
        track_sharpness=s.gd_probe_every,
        sharpness_subset=s.gd_rows,
    )
    _train(
        gd_config,
        gd,
        "gradient descent",
        device=dev,
        progress=progress,
        overwrite=overwrite,
        command=command,
    )
    report = out / "report"
    comparison = compare(
        runs, report, s.compare, device=dev, overwrite=overwrite, progress=progress, command=command
    )
    data = load_data("mnist1d", max_samples=s.max_samples, seed=SEED)
    env = Environment(
        dev,
        torch.get_num_threads(),
        {("validation" if k == "test" else k): len(v) for k, v in data.splits.items()},
    )
    files = write_report(
        comparison,
        report,
        run_dirs=[group / f"{SEED_DIR}{s.seeds[0]}" for group in runs],
        sweep=sweep,
        gd_run=gd,
        environment=env,
        extra_runs=[gd],
        title="MNIST-1D: why SGD, SGD+momentum, Adagrad, RMSprop and Adam converge differently",
    )
    return DemoResult(out, tuple(runs), sweep, gd, comparison, files)


def _train(
    config: TrainConfig,
    path: Path,
    what: str,
    *,
    device: str,
    progress: bool,
    overwrite: bool,
    command: str | None,
) -> None:
    try:
        train(config, path, device=device, progress=progress, overwrite=overwrite, command=command)
    except LandscapeError as exc:
        raise LandscapeError(
            f"demo {what}: {exc} (a demo of another size? use another --out or --overwrite)"
        ) from None
