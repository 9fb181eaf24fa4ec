"""SIGKILL ``landscape`` commands at random moments, resume each time, and check nothing is lost.

Commands covered: ``surface``, ``train`` (also with ``--track-sharpness``),
``hessian``, ``sharpness``, ``curvature-map``, ``trajectory``, ``compare`` and
``demo --quick``, all on small sizes. For each command: one uninterrupted
reference run, then ``--kills`` runs into a second output, each killed with
SIGKILL at a random moment (half of them at a random time after start, half a
random time after the output first shows progress), each followed by a check
that the output on disk is readable and that everything it holds so far
equals the reference (:func:`fault_outputs.compare_outputs`). A last
uninterrupted run resumes to the end; its output (every dataset and attribute
of every HDF5 file, every checkpoint) must equal the reference.

Usage::

    python scripts/fault_injection.py --kills 20                 # every command
    python scripts/fault_injection.py --kills 3 --grid 9 --commands surface   # quick

Prints one summary line per command and exits non-zero if any check failed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fault_targets as targets
from fault_targets import LAUNCHER, ROOT, Target, env, run_to_end


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
    target.prepare(ref)
    run_to_end([*LAUNCHER, "-q", *target.args(ref)])
    max_delay = max_delay or time.monotonic() - start
    if verbose:
        print(f"  {target.name}: uninterrupted reference run took {time.monotonic() - start:.1f} s")
    target.prepare(out)
    for k in range(kills):
        proc = subprocess.Popen(
            [*launcher, "-q", *target.args(out)],
            env=env(),
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
            if state[0] == state[1]:  # finished before the kill: start again so kills meet work
                summary.restarts += 1
                shutil.rmtree(out) if out.is_dir() else out.unlink()
                target.prepare(out)
    run_to_end([*launcher, "-q", *target.args(out)])
    problems = target.compare(ref, out, False)
    summary.final_equal = not problems
    summary.problems += problems
    summary.leftover_tmp = len(list(work.rglob("*.tmp-*")))
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
    names = list(targets.targets(Path(), 0, 0, 0))
    parser.add_argument("--commands", nargs="+", choices=names, default=names)
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
        build = targets.targets(work, args.grid, args.points_per_pass, args.epochs)
        summaries = []
        for name in args.commands:  # each line as soon as its command is done
            summaries.append(
                run_target(build[name](), work, args.kills, rng, verbose=not args.quiet)
            )
            print(summaries[-1].line(), flush=True)
            for p in summaries[-1].problems[:10]:
                print("   ", p, flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return summaries


if __name__ == "__main__":
    sys.exit(0 if all(s.ok for s in main()) else 1)
