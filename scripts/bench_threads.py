"""Time a training step and a Hessian-vector product at 1 and 2 torch threads, by model size.

    python scripts/bench_threads.py                    # MLPs of ~10k, 100k, 1M, 10M parameters
    python scripts/bench_threads.py --repeats 7 --rows 256

For each size one process builds an MLP on MNIST-1D-shaped inputs (40 features,
10 classes, ``--rows`` random rows), then times, interleaved (the thread count
alternates between repeats and the order flips every repeat, so a burst of load
from other jobs hits both settings alike):

- ``fwd+bwd``: forward and backward of the mean cross-entropy (one training step
  without the optimizer);
- ``hvp``: one Hessian-vector product of the full-data loss through
  :class:`landscape.curvature.hvp.HessianLinearOperator` (double backward, as
  Lanczos and power iteration use it).

It prints the median seconds of each, the ratio 2 threads / 1 thread (below 1:
two threads faster), torch's default thread count and the load average before
and after, which is what `landscape/cli/threads.py`'s default rule was chosen from.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from landscape.curvature.hvp import HessianLinearOperator
from landscape.data import Split
from landscape.models import MLP
from landscape.objective import Objective
from landscape.params import model_params

SIZES = {"10k": 1e4, "100k": 1e5, "1M": 1e6, "10M": 1e7}
"""Target parameter counts (the MLP has two hidden layers of equal width)."""


def width_for(target: float, inputs: int = 40, classes: int = 10) -> int:
    """The hidden width ``h`` whose MLP ``inputs-h-h-classes`` has about ``target`` parameters."""
    # h^2 + (inputs + classes + 3) h + classes = target
    b = inputs + classes + 3
    return max(1, round((-b + (b * b + 4 * (target - classes)) ** 0.5) / 2))


def seconds(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(size: str, rows: int, repeats: int) -> dict[tuple[str, int], list[float]]:
    """Interleaved timings of ``fwd+bwd`` and ``hvp`` at 1 and 2 threads for one model size."""
    torch.manual_seed(0)
    model = MLP(40, 10, hidden=(width_for(SIZES[size]),) * 2)
    x, y = torch.randn(rows, 40), torch.randint(0, 10, (rows,))
    objective = Objective(model, Split(x, y))
    hessian = HessianLinearOperator(objective, model_params(model), check=False)
    v = torch.randn(hessian.shape[0])
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()

    tasks = {"fwd+bwd": step, "hvp": lambda: hessian @ v}
    times: dict[tuple[str, int], list[float]] = {(t, n): [] for t in tasks for n in (1, 2)}
    for threads in (1, 2):  # warm-up of both settings (allocator, first-call costs)
        torch.set_num_threads(threads)
        for fn in tasks.values():
            fn()
    for r in range(repeats):
        for threads in (1, 2) if r % 2 == 0 else (2, 1):
            torch.set_num_threads(threads)
            for name, fn in tasks.items():
                times[(name, threads)].append(seconds(fn))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timings per setting (median)")
    parser.add_argument("--rows", type=int, default=256, help="data rows (one batch)")
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma list of " + ",".join(SIZES))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, default torch.get_num_threads() = {torch.get_num_threads()}")
    print(f"os.cpu_count() = {os.cpu_count()}, load average at start {os.getloadavg()}")
    print(f"{args.rows} rows, median of {args.repeats} interleaved repeats, seconds")
    print(f"{'size':>5} {'params':>10}  {'task':8} {'1 thread':>9} {'2 threads':>9} {'2/1':>6}")
    for size in args.sizes.split(","):
        times = measure(size, args.rows, args.repeats)
        params = sum(
            p.numel() for p in MLP(40, 10, hidden=(width_for(SIZES[size]),) * 2).parameters()
        )
        for task in ("fwd+bwd", "hvp"):
            one, two = (statistics.median(times[(task, n)]) for n in (1, 2))
            print(f"{size:>5} {params:>10,}  {task:8} {one:9.4f} {two:9.4f} {two / one:6.2f}")
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
