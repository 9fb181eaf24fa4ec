"""Time ``landscape demo`` with one and with two torch threads, side by side in one run.

    python scripts/bench_report.py             # --quick, fresh folders, then a resumed re-run
    python scripts/bench_report.py --size default

Prints wall-clock seconds of each configuration and the ratios; every run
starts in a fresh temporary folder, so the times include training.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str], threads: int) -> float:
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "landscape", "-q", *args, "--threads", str(threads)]
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("quick", "default"), default="quick")
    size = parser.parse_args().size
    flags = ["--quick"] if size == "quick" else []
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for threads in (1, 2):
            out = Path(tmp) / f"t{threads}"
            fresh = timed(["demo", *flags, "--device", "cpu", "--out", str(out)], threads)
            again = timed(["demo", *flags, "--device", "cpu", "--out", str(out)], threads)
            rows.append((threads, fresh, again))
    print(f"landscape demo ({size}), wall-clock seconds")
    print("threads  fresh   re-run (resumed)")
    for threads, fresh, again in rows:
        print(f"{threads:>7}  {fresh:6.1f}  {again:6.1f}")
    fresh_ratio, rerun_ratio = rows[1][1] / rows[0][1], rows[1][2] / rows[0][2]
    print(f"2 threads / 1 thread: fresh {fresh_ratio:.2f}x, re-run {rerun_ratio:.2f}x")
    print(f"re-run / fresh (1 thread): {rows[0][2] / rows[0][1]:.2f}")


if __name__ == "__main__":
    main()
