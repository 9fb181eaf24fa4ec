"""Anonymous memory of a trajectory's phases, in model copies, as checkpoints are opened.

Opens the first ``--checkpoints`` ``c*.pt`` files of ``--folder`` (written by
``--write N`` for an MLP of about ``--params`` parameters, as
``scripts/bench_memory.py model`` writes them) memory-mapped, as
``landscape trajectory`` does, then runs the PCA plane, the projection and the
residuals of :mod:`landscape.trajectory`. ``RssAnon`` is sampled every 3 ms;
for each phase it prints the memory at its end and its peak, above the
process before the first checkpoint was opened (the model already built),
over the model's float32 size. Memory that grows with the number opened
shows in the "opened" lines.

Usage::

    python scripts/probe_trajectory_memory.py --params 2e6 --folder /tmp/c --write 200
    python scripts/probe_trajectory_memory.py --params 2e6 --folder /tmp/c --checkpoints 200
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_memory import mlp_of, rss_anon_kib

from landscape import trajectory
from landscape.checkpoint_mmap import open_checkpoint_lazily

SAMPLE_S = 0.003


def rss_anon_mib() -> float:
    """``RssAnon`` of this process, MiB."""
    return rss_anon_kib() / 1024


class Sampler:
    """The peak of ``RssAnon`` since the last :meth:`report`, sampled in a thread."""

    def __init__(self, model_mib: float) -> None:
        self.model_mib = model_mib
        self.base = rss_anon_mib()
        self.peak = self.base
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_anon_mib())
            self.stop.wait(SAMPLE_S)

    def report(self, phase: str) -> None:
        """Print the memory now and the peak since the last report, over the model."""
        now = rss_anon_mib()
        peak = max(self.peak, now)
        print(
            f"{phase:<16} {(now - self.base) / self.model_mib:>8.2f} "
            f"{(peak - self.base) / self.model_mib:>8.2f}",
            flush=True,
        )
        self.peak = now


def write_checkpoints(params: float, folder: Path, count: int) -> None:
    """``count`` checkpoints on a curved path, named ``c0000.pt``, ... (as bench_memory)."""
    model = mlp_of(params)
    base = {k: v.detach().clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    drift = {k: torch.randn(v.shape, generator=g) for k, v in base.items()}
    side = {k: torch.randn(v.shape, generator=g) for k, v in base.items()}
    for i in range(count):
        s = i / max(count - 1, 1)
        state = {k: base[k] + (1 - s) * drift[k] + s * (1 - s) * side[k] for k in base}
        torch.save(state, folder / f"c{i:04d}.pt")


def probe(params: float, folder: Path, count: int) -> None:
    """Print each phase's memory for the first ``count`` checkpoints of ``folder``."""
    model = mlp_of(params)
    files = sorted(folder.glob("c*.pt"))[:count]
    model_mib = sum(t.numel() for t in model.parameters()) * 4 / 2**20
    print(f"T = {len(files)}, model {model_mib:.1f} MiB")
    print(f"{'phase':<16} {'end':>8} {'peak':>8}")
    sampler = Sampler(model_mib)
    points = []
    for i, path in enumerate(files):
        points.append(open_checkpoint_lazily(model, path)[0])
        if (i + 1) % max(1, len(files) // 4) == 0 or i + 1 == len(files):
            sampler.report(f"opened {i + 1}")
    origin = points[-1]
    plane = trajectory.pca_plane(points, origin)
    sampler.report("pca_plane")
    coords = trajectory.project(points, origin, plane.directions)
    sampler.report("project")
    trajectory._residuals(points, origin, plane, coords)
    sampler.report("residuals")
    sampler.stop.set()


def main() -> None:
    """Parse the arguments; write the checkpoints, or probe the first ``--checkpoints``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=float, default=2e6)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--write", type=int, default=0, help="write this many checkpoints")
    parser.add_argument("--checkpoints", type=int, default=200, help="open this many")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if args.write:
        args.folder.mkdir(parents=True, exist_ok=True)
        write_checkpoints(args.params, args.folder, args.write)
        return
    probe(args.params, args.folder, args.checkpoints)


if __name__ == "__main__":
    main()
