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

from landscape.dynamics.train import TrainConfig, train
from landscape.errors import LandscapeError
from landscape.pipelines.compare import CompareConfig, compare
from landscape.records import Comparison
from landscape.report.document import ReportFiles, write_report
from landscape.report.figures import SurfacePair

Size = Literal["quick", "default", "full"]
SIZES: tuple[str, ...] = get_args(Size)


@dataclass(frozen=True)
class DemoRun:
    """One optimizer of the demo: run name, optimizer, learning rate, momentum."""

    name: str
    optimizer: Literal["sgd", "adagrad", "rmsprop", "adam"]
    lr: float
    momentum: float = 0.0


# Learning rates: for each optimizer, the value of a small grid (about 2-3x apart)
# with the lowest best validation loss within 20 epochs of the default demo (full
# MNIST-1D, batch 128, seed 0); grids: SGD {0.05, 0.1, 0.2, 0.5}, SGD+momentum
# {0.01, 0.02, 0.05}, Adagrad {0.01, 0.03, 0.1}, RMSprop {3e-4, 1e-3, 3e-3},
# Adam {1e-3, 3e-3, 1e-2}. The sweep's numbers are in BENCHMARKS.report.md.
OPTIMIZER_RUNS: tuple[DemoRun, ...] = (
    DemoRun("sgd", "sgd", 0.5),
    DemoRun("sgd-momentum", "sgd", 0.05, momentum=0.9),
    DemoRun("adagrad", "adagrad", 0.03),
    DemoRun("rmsprop", "rmsprop", 3e-3),
    DemoRun("adam", "adam", 1e-2),
)
"""The five optimizers, with learning rates tuned as the comment above says."""

RESNET_LR = 3e-3
"""Adam learning rate of the two ResNets (the MLP's tuned Adam rate)."""
SEED = 0
"""Seed of every initialization, batch order, direction and estimator."""


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
        runs: the optimizer run directories.
        surfaces: the ResNet surfaces (with, without skip connections).
        comparison: the comparison as stored in ``report/compare.h5``.
        report: the report's files.

    """

    out: Path
    runs: tuple[Path, ...]
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
    from landscape.pipelines.surface import surface

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
    runs = []
    for r in OPTIMIZER_RUNS:
        config = replace(base, optimizer=r.optimizer, lr=r.lr, momentum=r.momentum)
        path = out / "runs" / r.name
        _train(config, path, r.name, dev, progress, overwrite, command)
        runs.append(path)
    surfaces = []
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
    files = write_report(
        comparison,
        report,
        pair=pair,
        run_dirs=runs,
        title="MNIST-1D: why SGD, SGD+momentum, Adagrad, RMSprop and Adam converge differently",
    )
    return DemoResult(out, tuple(runs), (surfaces[0], surfaces[1]), comparison, files)


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
