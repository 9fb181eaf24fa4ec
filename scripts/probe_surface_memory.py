"""Anonymous memory of ``landscape.surface`` phase by phase, in model copies.

Runs one small surface (``--grid`` squared points, written to a file) of an MLP
of about ``--params`` parameters, sampling ``RssAnon`` every 2 ms, and prints,
for each phase (loading, directions, the new file, the evaluators, the grid
with its periodic writes), the memory at its start and its peak, above the
memory before the surface started, over the model's float32 size. The model
itself is built before the first sample, as the caller's model would be.

Usage::

    python scripts/probe_surface_memory.py --params 5e6 --split train
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_memory import mlp_of, rss_anon_kib

import landscape
from landscape import engine
from landscape.pipelines import surface as surface_pipeline

SAMPLE_S = 0.002


class Sampler:
    """``RssAnon`` (KiB) of this process, sampled in a thread, with named phases."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self.phases: list[tuple[str, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), rss_anon_kib()))
            self._stop.wait(SAMPLE_S)

    def __enter__(self) -> Sampler:
        self._thread.start()
        time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.05)
        self._stop.set()
        self._thread.join()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phases.append((name, start, time.perf_counter()))

    def wrap(self, owner: Any, attr: str, name: str) -> None:
        """Record every call of ``owner.attr`` as the phase ``name``."""
        original: Callable[..., Any] = getattr(owner, attr)

        @functools.wraps(original)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return original(*args, **kwargs)

        setattr(owner, attr, recorded)

    def window(self, start: float, end: float) -> tuple[int, int]:
        """Memory at ``start`` (the last sample before it) and the peak up to ``end``."""
        before = [kib for t, kib in self.samples if t <= start]
        inside = [kib for t, kib in self.samples if start <= t <= end]
        first = before[-1] if before else self.samples[0][1]
        return first, max([first, *inside])


def main() -> None:
    """Print one line per phase."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=float, default=5e6)
    parser.add_argument("--grid", type=int, default=3)
    parser.add_argument("--split", choices=("train", "both"), default="train")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = mlp_of(int(args.params))
    n = sum(t.numel() for t in model.parameters())
    g = torch.Generator().manual_seed(0)
    data = {
        s: (torch.randn(32, 64, generator=g), torch.randint(0, 10, (32,), generator=g))
        for s in ("train", "test")
    }
    sampler = Sampler()
    sampler.wrap(surface_pipeline, "load_objective", "load_objective")
    sampler.wrap(surface_pipeline, "_directions", "directions")
    sampler.wrap(engine, "create_surface_file", "create file")
    sampler.wrap(engine, "_evaluators", "evaluators")
    sampler.wrap(engine, "_run", "grid (with writes)")
    sampler.wrap(engine, "write_values", "write values")
    with tempfile.TemporaryDirectory() as tmp, sampler, sampler.phase("surface"):
        landscape.surface(
            model,
            data=data,
            x=f"-1:1:{args.grid}",
            y=f"-1:1:{args.grid}",
            split=args.split,
            device="cpu",
            out=f"{tmp}/s.h5",
            progress=False,
        )
    base = sampler.samples[0][1]
    mib = n * 4 / 2**20
    print(f"load average: {os.getloadavg()}; {n} parameters ({mib:.1f} MiB), split {args.split}")
    print("phase                 calls  start /model  peak /model")
    seen: dict[str, list[tuple[float, float]]] = {}
    for name, start, end in sampler.phases:
        seen.setdefault(name, []).append((start, end))
    for name, spans in seen.items():
        first, _ = sampler.window(*spans[0])
        peak = max(sampler.window(s, e)[1] for s, e in spans)
        print(
            f"{name:<20} {len(spans):>6} {(first - base) / 1024 / mib:>13.1f}"
            f" {(peak - base) / 1024 / mib:>12.1f}"
        )


if __name__ == "__main__":
    main()
