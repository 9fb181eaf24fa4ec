"""The commands ``fault_injection.py`` kills, each on a small input, and how progress shows.

A :class:`Target` says how to start a command writing into ``out``, how far
an output on disk has got (``(done, total)``; ``done == total`` only when the
output equals the reference, so a kill that came after the end restarts the
command), and how to compare outputs (by default every dataset, attribute and
checkpoint: :func:`fault_outputs.compare_outputs`). The small training runs that ``trajectory`` and ``compare`` read are built here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from fault_model import tiny_net
from fault_outputs import compare_outputs, count_outputs, output_files

ROOT = Path(__file__).resolve().parents[1]
SPEC = Path(__file__).resolve().with_name("fault_model.py")
"""The file that holds the model and data factories (``SPEC:tiny_net``)."""
LAUNCHER = (sys.executable, "-m", "landscape")
"""How a command is started; a test may wrap it (e.g. to slow evaluation down)."""


MODEL_DATA = ["--model", f"{SPEC}:tiny_net", "--data", f"{SPEC}:tiny_data"]


@dataclass(frozen=True)
class Target:
    """A command to kill: how to run it, where it writes, and how to check its output."""

    name: str
    args: Callable[[Path], list[str]]
    suffix: str
    progress: Callable[[Path], tuple[int, int] | None]
    compare: Callable[[Path, Path, bool], list[str]] = compare_outputs
    prepare: Callable[[Path], None] = lambda out: None
    """Puts the command's input in place before a run into a fresh ``out`` (curvature-map)."""


def env() -> dict[str, str]:
    """The environment of every command: this checkout, one thread."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def run_to_end(cmd: list[str]) -> None:
    """Run ``cmd`` to its end; raise with its stderr if it fails."""
    res = subprocess.run(cmd, env=env(), cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr}")


def tiny_checkpoint_spec(work: Path) -> list[str]:
    """Save the tiny model's checkpoint in ``work``; return the options that evaluate it."""
    ckpt = work / "tiny.pt"
    torch.save(tiny_net().state_dict(), ckpt)
    return [*MODEL_DATA, "--checkpoint", str(ckpt)]


def _read_everything(path: Path) -> None:
    """Open ``path`` through the store's checks and read every dataset (unreadable: raise)."""
    from landscape import store

    with store.open_read(path) as f:
        f.visititems(lambda _, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)


def whole_output_progress(ref: Path) -> Callable[[Path], tuple[int, int] | None]:
    """Progress as datasets and checkpoints written, complete only when equal to ``ref``."""

    def progress(out: Path) -> tuple[int, int] | None:
        if not out.exists():
            return None
        for path in output_files(out, ".h5"):
            _read_everything(path)
        total = count_outputs(ref)
        if compare_outputs(ref, out, False) == []:
            return total, total
        return min(count_outputs(out), total - 1), total

    return progress


def surface_target(work: Path, grid: int, points_per_pass: int) -> Target:
    """``landscape surface`` on a ``grid x grid`` plane of the tiny model."""
    spec = tiny_checkpoint_spec(work)
    grid_args = [f"--x=-1:1:{grid}", f"--y=-1:1:{grid}", "--points-per-pass", str(points_per_pass)]

    def progress(out: Path) -> tuple[int, int] | None:
        from landscape import store

        if not out.exists():
            return None
        _read_everything(out)
        with store.open_read(out) as f:
            done = f["surface/done"][()]
        return int(done.sum()), done.size

    return Target(
        "surface", lambda out: ["surface", *spec, *grid_args, "--out", str(out)], ".h5", progress
    )


def train_target(work: Path, epochs: int, *, sharpness: bool = False) -> Target:
    """``landscape train`` of the tiny model with SGD for ``epochs`` epochs.

    With ``sharpness``, Adam with ``--track-sharpness`` (the probe's warm start must
    survive a kill) instead.
    """
    optimizer = (
        ["adam", "--lr", "0.01", "--track-sharpness", "every=2,subset=64"]
        if sharpness
        else ["sgd", "--momentum", "0.9"]
    )
    train_args = ["--epochs", str(epochs), "--batch-size", "50", "--optimizer", *optimizer]

    def progress(out: Path) -> tuple[int, int] | None:
        run = out / "run.h5"
        if not run.exists():
            return None
        _read_everything(run)
        with h5py.File(run, "r") as f:
            epoch = f["dynamics/epoch/epoch"][()] if "dynamics/epoch/epoch" in f else np.zeros(0)
        return int(epoch.max(initial=0)), epochs

    return Target(
        "train-sharpness" if sharpness else "train",
        lambda out: ["train", *MODEL_DATA, *train_args, "--out", str(out)],
        "",
        progress,
    )


def hessian_target(work: Path) -> Target:
    """``landscape hessian`` (top and bottom eigenpairs, trace, density) of the tiny model."""
    spec = tiny_checkpoint_spec(work)
    stages = ("top", "bottom", "trace", "density")
    options = ["--max-samples", "500", "--top-k", "2", "--bottom-k", "1", "--trace"]
    options += ["--trace-hvps", "12", "--density", "--density-runs", "2", "--density-steps", "20"]

    def progress(out: Path) -> tuple[int, int] | None:
        if not out.exists():
            return None
        _read_everything(out)
        with h5py.File(out, "r") as f:
            group = f.get("curvature/hessian")
            present = [s for s in stages if group is not None and s in group]
        return len(present), len(stages)

    return Target(
        "hessian", lambda out: ["hessian", *spec, *options, "--out", str(out)], ".h5", progress
    )


def sharpness_target(work: Path) -> Target:
    """``landscape sharpness`` (every measure) of the tiny model on 500 rows."""
    spec = tiny_checkpoint_spec(work)
    options = ["--max-samples", "500", "--trace-hvps", "12", "--steps", "5", "--samples", "4"]
    ref = work / "sharpness-ref.h5"
    return Target(
        "sharpness",
        lambda out: ["sharpness", *spec, *options, "--out", str(out)],
        ".h5",
        whole_output_progress(ref),
    )


def curvature_map_target(work: Path, grid: int) -> Target:
    """``landscape curvature-map`` over a ``grid x grid`` surface of the tiny model."""
    spec = tiny_checkpoint_spec(work)
    surface = work / "curvature-map-input.h5"
    if not surface.exists():
        grid_args = [f"--x=-1:1:{grid}", f"--y=-1:1:{grid}"]
        run_to_end([*LAUNCHER, "-q", "surface", *spec, *grid_args, "--out", str(surface)])
    return Target(
        "curvature-map",
        lambda out: ["curvature-map", str(out), *spec, "--max-iter", "20"],
        ".h5",
        whole_output_progress(work / "curvature-map-ref.h5"),
        prepare=lambda out: shutil.copyfile(surface, out),
    )


def training_runs(work: Path) -> list[str]:
    """Two short runs of the tiny model (SGD, Adam) that ``trajectory`` and ``compare`` read."""
    runs = []
    for name, optimizer in (("sgd", ["sgd", "--lr", "0.05"]), ("adam", ["adam", "--lr", "0.01"])):
        run = work / f"input-run-{name}"
        if not (run / "final.pt").exists():
            train = ["train", *MODEL_DATA, "--epochs", "4", "--batch-size", "100"]
            run_to_end([*LAUNCHER, "-q", *train, "--optimizer", *optimizer, "--out", str(run)])
        runs.append(str(run))
    return runs


def trajectory_target(work: Path) -> Target:
    """``landscape trajectory`` of two runs on one PCA plane, with a 7 x 7 surface."""
    runs = training_runs(work)
    return Target(
        "trajectory",
        lambda out: ["trajectory", *runs, *MODEL_DATA, "--resolution", "7", "--out", str(out)],
        ".h5",
        whole_output_progress(work / "trajectory-ref.h5"),
    )


def compare_target(work: Path) -> Target:
    """``landscape compare`` of two runs with small curvature, profile and plane settings."""
    runs = training_runs(work)
    options = ["--curvature-samples", "200", "--trace-probes", "4", "--profile-grid=-1:1:5"]
    options += ["--plane-resolution", "5", "--max-checkpoints", "3"]
    return Target(
        "compare",
        lambda out: ["compare", *runs, *MODEL_DATA, *options, "--out", str(out)],
        "",
        whole_output_progress(work / "compare-ref"),
    )


def demo_target(work: Path) -> Target:
    """``landscape demo --quick``: five optimizer runs, compare, two ResNet surfaces."""
    return Target(
        "demo",
        lambda out: ["demo", "--quick", "--out", str(out)],
        "",
        whole_output_progress(work / "demo-ref"),
    )


def targets(
    work: Path, grid: int, points_per_pass: int, epochs: int
) -> dict[str, Callable[[], Target]]:
    """Every command by name, built on demand (building may run commands that make inputs)."""
    return {
        "surface": lambda: surface_target(work, grid, points_per_pass),
        "train": lambda: train_target(work, epochs),
        "train-sharpness": lambda: train_target(work, epochs, sharpness=True),
        "hessian": lambda: hessian_target(work),
        "sharpness": lambda: sharpness_target(work),
        "curvature-map": lambda: curvature_map_target(work, 7),
        "trajectory": lambda: trajectory_target(work),
        "compare": lambda: compare_target(work),
        "demo": lambda: demo_target(work),
    }
