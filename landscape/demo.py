"""``landscape demo``: the embedded default, no download, CPU in minutes.

Trains the same MLP on MNIST-1D (Greydanus 2020, generated locally) with SGD,
SGD+momentum, Adagrad, RMSprop and Adam from one seed (same initialization,
same batch order), recording dynamics and the sharpness along training; runs
:func:`landscape.pipelines.compare.compare` on them; trains a ResNet with and
without skip connections and computes a 2D filter-normalized surface around
each; and writes the report. Everything resumes: a re-run reuses finished
runs, curvature and surfaces.

Layout of ``OUT``::

    runs/<optimizer>/            run.h5 + checkpoints/ of each optimizer
    resnet/skip, resnet/noskip/  the two ResNet runs
    surfaces/resnet-skip.h5      2D surfaces (the Li et al. schema)
    surfaces/resnet-noskip.h5
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
from landscape.report.figures import SurfacePair

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

RESNET_LR = 3e-3
"""Adam learning rate of the two ResNets (the MLP's tuned Adam rate)."""
SEED = 0
"""Seed of the ResNets, the gradient-descent run, directions and estimators."""
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
        resnet_epochs: epochs of each ResNet.
        surface_grid: grid of each axis of the ResNet surfaces.
        surface_samples: rows per split of the ResNet surfaces.
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
    resnet_epochs: int = 6
    surface_grid: str = "-1:1:15"
    surface_samples: int | None = 1000
    seeds: tuple[int, ...] = (0, 1, 2)
    sweep_extensions: int = 2
    gd_lr: float = 0.3
    gd_steps: int = 300
    gd_rows: int = 1000
    gd_probe_every: int = 5
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
        resnet_epochs=1,
        surface_grid="-1:1:5",
        surface_samples=200,
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
        resnet_epochs=20,
        surface_grid="-1:1:31",
        surface_samples=None,
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
        surfaces: the ResNet surfaces (with, without skip connections).
        comparison: the comparison as stored in ``report/compare.h5``.
        report: the report's files.

    """

    out: Path
    runs: tuple[Path, ...]
    sweep: LrSweep
    gd_run: Path
    surfaces: tuple[Path, Path]
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
    """Train the five optimizers and the two ResNets, compare them and write the report.

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
    from landscape.api import surface

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
            _train(config, group / f"{SEED_DIR}{seed}", r.name, dev, progress, overwrite, command)
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
    _train(gd_config, gd, "gradient descent", dev, progress, overwrite, command)
    surfaces = []
    resnets = []
    for model, name in (("resnet", "skip"), ("resnet-noskip", "noskip")):
        config = replace(
            base,
            model=model,
            optimizer="adam",
            lr=RESNET_LR,
            epochs=s.resnet_epochs,
            track_sharpness=None,
            checkpoint_every=s.resnet_epochs,
        )
        run = out / "resnet" / name
        _train(config, run, f"resnet {name}", dev, progress, overwrite, command)
        resnets.append(run)
        target = out / "surfaces" / f"resnet-{name}.h5"
        surface(
            model,
            run / "checkpoints" / f"epoch_{s.resnet_epochs:04d}.pt",
            "mnist1d",
            dirs="random",
            x=s.surface_grid,
            y=s.surface_grid,
            seed=SEED,
            max_samples=s.surface_samples,
            device=dev,
            out=target,
            overwrite=overwrite,
            progress=progress,
            command=command,
        )
        surfaces.append(target)
    report = out / "report"
    comparison = compare(
        runs, report, s.compare, device=dev, overwrite=overwrite, progress=progress, command=command
    )
    pair = SurfacePair(
        (surfaces[0], surfaces[1]),
        ("ResNet with skip connections", "ResNet without skip connections"),
        "Training loss of a small 1D ResNet (left) and the same network without skip connections "
        f"(right), each trained {s.resnet_epochs} epoch(s) with Adam, on a plane of two random "
        "filter-normalized directions through the trained weights (Li et al. 2018); α = β = 0 is "
        "the trained point, both panels share one colour scale and its contour levels.",
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
        pair=pair,
        run_dirs=[group / f"{SEED_DIR}{s.seeds[0]}" for group in runs],
        sweep=sweep,
        gd_run=gd,
        environment=env,
        extra_runs=[gd, *resnets],
        title="MNIST-1D: why SGD, SGD+momentum, Adagrad, RMSprop and Adam converge differently",
    )
    return DemoResult(out, tuple(runs), sweep, gd, (surfaces[0], surfaces[1]), comparison, files)


def _train(
    config: TrainConfig,
    path: Path,
    what: str,
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
