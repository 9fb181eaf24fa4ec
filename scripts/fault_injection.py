"""SIGKILL ``landscape`` commands at random moments, resume each time, and check nothing is lost.

Commands covered: ``surface``, ``train`` and ``hessian`` (not yet ``compare``).
For each command: one uninterrupted reference run, then ``--kills`` runs into
a second output, each killed with SIGKILL at a random moment (half of them
at a random time after start, half a random time after the output first shows
progress), each followed by a check that the output on disk is readable and
that every point it marks as done equals the reference. A last uninterrupted
run resumes to the end; its output must equal the reference.

Usage::

    python scripts/fault_injection.py --kills 20                 # surface, train, hessian
    python scripts/fault_injection.py --kills 3 --grid 9 --commands surface   # quick

Prints one summary line per command and exits non-zero if any check failed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve()
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")


def tiny_net() -> nn.Module:
    """A small MLP (the model spec ``scripts/fault_injection.py:tiny_net``)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 5))


def tiny_data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Fixed random data with train and test splits."""
    g = torch.Generator().manual_seed(1)
    return {
        "train": (torch.randn(2000, 16, generator=g), torch.randint(0, 5, (2000,), generator=g)),
        "test": (torch.randn(500, 16, generator=g), torch.randint(0, 5, (500,), generator=g)),
    }


@dataclass
class Summary:
    """What happened to one command under fault injection."""

    command: str
    kills: int = 0
    mid_run: int = 0
    finished_first: int = 0
    restarts: int = 0
    unreadable: int = 0
    wrong_points: int = 0
    leftover_tmp: int = 0
    final_equal: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return self.final_equal and self.unreadable == 0 and self.wrong_points == 0

    def line(self) -> str:
        """One line for the report."""
        verdict = "OK" if self.ok else "FAILED"
        return (
            f"{self.command}: {verdict} - {self.kills} kills "
            f"({self.mid_run} with partial results on disk, "
            f"{self.finished_first} after the run had finished; {self.restarts} fresh starts), "
            f"{self.unreadable} unreadable files, "
            f"{self.wrong_points} stored results differing from the reference, final output equal: "
            f"{self.final_equal}, leftover temporary files: {self.leftover_tmp}"
        )


@dataclass(frozen=True)
class Target:
    """A command to kill: how to run it, where it writes, and how to check its output."""

    name: str
    args: Callable[[Path], list[str]]
    suffix: str
    progress: Callable[[Path], tuple[int, int] | None]
    compare: Callable[[Path, Path, bool], list[str]]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


LAUNCHER = (sys.executable, "-m", "landscape")
"""How a command is started; a test may wrap it (e.g. to slow evaluation down)."""


def _run_to_end(cmd: list[str]) -> None:
    res = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr}")


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    """Equal shapes and values, NaN equal to NaN."""
    nan_ok = np.issubdtype(np.asarray(x).dtype, np.inexact)
    return np.array_equal(x, y, equal_nan=bool(nan_ok))


def tiny_checkpoint_spec(work: Path) -> list[str]:
    """Save the tiny model's checkpoint in ``work``; return the options that evaluate it."""
    ckpt = work / "tiny.pt"
    torch.save(tiny_net().state_dict(), ckpt)
    return [
        "--model",
        f"{SCRIPT}:tiny_net",
        "--data",
        f"{SCRIPT}:tiny_data",
        "--checkpoint",
        str(ckpt),
    ]


def surface_target(work: Path, grid: int, points_per_pass: int) -> Target:
    """``landscape surface`` on a ``grid x grid`` plane of the tiny model."""
    spec = tiny_checkpoint_spec(work)
    grid_args = [f"--x=-1:1:{grid}", f"--y=-1:1:{grid}", "--points-per-pass", str(points_per_pass)]

    def progress(out: Path) -> tuple[int, int] | None:
        from landscape import store

        if not out.exists():
            return None
        with store.open_read(out) as f:
            done = f["surface/done"][()]
            for m in METRICS:
                f[m][()]
        return int(done.sum()), done.size

    def compare(ref: Path, got: Path, partial: bool) -> list[str]:
        with h5py.File(ref, "r") as a, h5py.File(got, "r") as b:
            done = b["surface/done"][()]
            if not partial and not done.all():
                return ["not all points done"]
            bad = [m for m in METRICS if not _same(a[m][()][done], b[m][()][done])]
            for name in (
                "xcoordinates",
                "ycoordinates",
                "directions/d0/0.weight",
                "directions/d1/2.bias",
            ):
                if not np.array_equal(a[name][()], b[name][()]):
                    bad.append(name)
            return bad

    return Target(
        "surface",
        lambda out: ["surface", *spec, *grid_args, "--out", str(out)],
        ".h5",
        progress,
        compare,
    )


def train_target(work: Path, epochs: int, *, sharpness: bool = False) -> Target:
    """``landscape train`` of the tiny model with SGD for ``epochs`` epochs.

    With ``sharpness``, Adam with ``--track-sharpness`` (the probe's warm start must
    survive a kill) instead.
    """
    spec = ["--model", f"{SCRIPT}:tiny_net", "--data", f"{SCRIPT}:tiny_data"]
    optimizer = (
        ["adam", "--lr", "0.01", "--track-sharpness", "every=2,subset=64"]
        if sharpness
        else ["sgd", "--momentum", "0.9"]
    )
    train_args = [
        "--epochs",
        str(epochs),
        "--batch-size",
        "50",
        "--optimizer",
        *optimizer,
    ]

    def progress(out: Path) -> tuple[int, int] | None:
        from landscape import store

        run = out / "run.h5"
        if not run.exists():
            return None
        with store.open_read(run) as f:
            epoch = f["dynamics/epoch/epoch"][()] if "dynamics/epoch/epoch" in f else np.zeros(0)
            f.visititems(lambda _, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
        return int(epoch.max(initial=0)), epochs

    def compare(ref: Path, got: Path, partial: bool) -> list[str]:
        bad: list[str] = []
        with h5py.File(ref / "run.h5", "r") as a, h5py.File(got / "run.h5", "r") as b:
            names: list[str] = []
            a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            for name in names:
                if name not in b:
                    bad += [] if partial else [f"run.h5: {name} missing"]
                    continue
                x, y = a[name][()], b[name][()]
                if partial and y.ndim and len(y) <= len(x):
                    x = x[: len(y)]  # a killed run holds a prefix of the rows
                if not _same(x, y):
                    bad.append(f"run.h5: {name} differs")
        ours = sorted(p.name for p in (got / "checkpoints").glob("*.pt"))
        if not partial and ours != sorted(p.name for p in (ref / "checkpoints").glob("*.pt")):
            bad.append(f"checkpoints differ: {ours}")
        for name in ours:
            x = torch.load(ref / "checkpoints" / name, weights_only=True)
            try:
                y = torch.load(got / "checkpoints" / name, weights_only=True)
            except Exception as exc:  # a checkpoint must never be half-written
                bad.append(f"checkpoint {name} unreadable: {exc}")
                continue
            x, y = (d.get("model", d) for d in (x, y))
            if x.keys() != y.keys() or not all(torch.equal(x[k], y[k]) for k in x):
                bad.append(f"checkpoint {name} differs")
        return bad

    return Target(
        "train-sharpness" if sharpness else "train",
        lambda out: ["train", *spec, *train_args, "--out", str(out)],
        "",
        progress,
        compare,
    )


def hessian_target(work: Path) -> Target:
    """``landscape hessian`` (top and bottom eigenpairs, trace, density) of the tiny model."""
    spec = tiny_checkpoint_spec(work)
    stages = ("top", "bottom", "trace", "density")
    options = [
        "--max-samples",
        "500",
        "--top-k",
        "2",
        "--bottom-k",
        "1",
        "--trace",
        "--trace-hvps",
        "12",
    ]
    options += ["--density", "--density-runs", "2", "--density-steps", "20"]

    def progress(out: Path) -> tuple[int, int] | None:
        from landscape import store

        if not out.exists():
            return None
        with store.open_read(out) as f:
            group = f.get("curvature/hessian")
            present = [s for s in stages if group is not None and s in group]
            f.visititems(lambda _, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
        return len(present), len(stages)

    def compare(ref: Path, got: Path, partial: bool) -> list[str]:
        bad: list[str] = []
        with h5py.File(ref, "r") as a, h5py.File(got, "r") as b:
            names: list[str] = []
            a["curvature/hessian"].visititems(lambda n, _: names.append(n))
            for name in names:
                x, y = a["curvature/hessian"][name], b.get(f"curvature/hessian/{name}")
                if y is None:
                    bad += [] if partial else [f"{name} missing"]
                elif isinstance(x, h5py.Dataset) and not _same(x[()], y[()]):
                    bad.append(f"{name} differs")
                elif {k: str(v) for k, v in x.attrs.items()} != {
                    k: str(v) for k, v in y.attrs.items()
                }:
                    bad.append(f"{name} attributes differ")
        return bad

    return Target(
        "hessian",
        lambda out: ["hessian", *spec, *options, "--out", str(out)],
        ".h5",
        progress,
        compare,
    )


def run_target(
    target: Target,
    work: Path,
    kills: int,
    rng: random.Random,
    *,
    launcher: tuple[str, ...] = LAUNCHER,
    max_delay: float | None = None,
    verbose: bool = False,
) -> Summary:
    """Reference run, ``kills`` killed-and-resumed runs, and a final resume.

    Args:
        target: the command and its checks.
        work: directory for the outputs.
        kills: how many runs to SIGKILL.
        rng: source of the kill moments.
        launcher: how the killed and final runs are started (the reference
            always runs with :data:`LAUNCHER`).
        max_delay: longest wait before a kill (default: the reference's run time).
        verbose: print a line after each kill.
    """
    summary = Summary(target.name)
    ref = work / f"{target.name}-ref{target.suffix}"
    out = work / f"{target.name}-killed{target.suffix}"
    start = time.monotonic()
    _run_to_end([*LAUNCHER, "-q", *target.args(ref)])
    max_delay = max_delay or time.monotonic() - start
    if verbose:
        print(f"  {target.name}: uninterrupted reference run took {time.monotonic() - start:.1f} s")
    for k in range(kills):
        proc = subprocess.Popen(
            [*launcher, "-q", *target.args(out)],
            env=_env(),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started = time.monotonic()
        if k % 2 == 1:  # wait for new results on disk first, then a random moment more
            _wait_for_progress(target, out, proc, summary)
            time.sleep(rng.uniform(0.0, max_delay / 4))
        else:
            time.sleep(rng.uniform(0.0, 0.75 * max_delay))
        summary.finished_first += int(proc.poll() is not None)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        summary.kills += 1
        state = _safe_progress(target, out, summary)
        if verbose:
            shown = "no file yet" if state is None else f"{state[0]}/{state[1]} done"
            print(
                f"  {target.name} kill {k + 1}/{kills} "
                f"after {time.monotonic() - started:.1f} s: {shown}"
            )
        if state is not None:
            summary.mid_run += int(0 < state[0] < state[1])
            wrong = target.compare(ref, out, True)
            summary.wrong_points += len(wrong)
            summary.problems += [f"kill {k}: {w}" for w in wrong]
            if (
                state[0] == state[1]
            ):  # finished before the kill: start again so every kill meets work
                summary.restarts += 1
                shutil.rmtree(out) if out.is_dir() else out.unlink()
    _run_to_end([*launcher, "-q", *target.args(out)])
    problems = target.compare(ref, out, False)
    summary.final_equal = not problems
    summary.problems += problems
    summary.leftover_tmp = len(list(work.glob("*.tmp-*")))
    return summary


def _wait_for_progress(
    target: Target, out: Path, proc: subprocess.Popen[bytes], summary: Summary
) -> None:
    """Wait until the run has saved more than was on disk when it started."""
    before = _safe_progress(target, out, summary)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        state = _safe_progress(target, out, summary)
        if state is not None and state[0] > (before[0] if before is not None else 0):
            return
        time.sleep(0.05)


def _safe_progress(target: Target, out: Path, summary: Summary) -> tuple[int, int] | None:
    from landscape.errors import LandscapeError

    try:
        return target.progress(out)
    except (LandscapeError, OSError, KeyError) as exc:
        summary.unreadable += 1
        summary.problems.append(f"unreadable after kill: {exc}")
        return None


def main(argv: list[str] | None = None) -> list[Summary]:
    """Run the fault injection and print one summary line per command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per command (default 20)")
    parser.add_argument(
        "--grid", type=int, default=41, help="surface grid points per axis (default 41)"
    )
    parser.add_argument(
        "--points-per-pass", type=int, default=4, help="surface points per pass (default 4)"
    )
    parser.add_argument(
        "--commands",
        nargs="+",
        choices=["surface", "train", "train-sharpness", "hessian"],
        default=["surface", "train", "hessian"],
    )
    parser.add_argument("--epochs", type=int, default=20, help="train epochs (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--quiet", action="store_true", help="only the summary lines")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the files here (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="landscape-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        targets = {
            "surface": lambda: surface_target(work, args.grid, args.points_per_pass),
            "train": lambda: train_target(work, args.epochs),
            "train-sharpness": lambda: train_target(work, args.epochs, sharpness=True),
            "hessian": lambda: hessian_target(work),
        }
        summaries = [
            run_target(targets[name](), work, args.kills, rng, verbose=not args.quiet)
            for name in args.commands
        ]
        for s in summaries:
            print(s.line())
            for p in s.problems[:10]:
                print("   ", p)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return summaries


if __name__ == "__main__":
    sys.exit(0 if all(s.ok for s in main()) else 1)
