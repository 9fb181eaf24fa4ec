"""Surface speed, measured side by side in one run and printed as ratios.

For each case (model, batch size) on the same data and the same steps x steps
grid it times, every contender computing the loss and the accuracy at every point:

* ``plain``: ``points`` plain forward passes + loss + accuracy over the data, in batches (the
  floor: the same model and weights each time, nothing else);
* ``ours``: ``landscape.engine.compute_surface`` (points per pass chosen by measurement,
  or as given by --points-per-pass);
* ``loss_landscapes``: ``loss_landscapes.random_plane`` (PyPI ``loss-landscapes``), with a
  metric that loops the same batches;
* ``li_et_al``: a per-point loop in the style of the Li et al. 2018 scripts (weights copied into
  the model, a DataLoader over the data, ``.item()`` per batch).

Each ratio is a time divided by the floor's. The contenders run one after the
other in rounds (after one warm-up round, order rotated every round), so that
the drift of a shared machine's speed hits them alike; a ratio printed is the
median over rounds of that round's ratio. glibc's malloc thresholds are fixed
first, as the ``landscape`` CLI does (:mod:`landscape.allocator`), for every
contender alike; ``--default-malloc`` leaves them alone. Usage::

    python scripts/bench_surface.py [--device cuda] [--steps 11] [--repeats 3] [--only MLP]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable

import loss_landscapes
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from loss_landscapes.metrics import Metric
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from landscape.allocator import tune_malloc
from landscape.data import Split, mnist1d
from landscape.directions import random_directions
from landscape.engine import compute_surface
from landscape.models import MLP, CNN1d, ResNet1d
from landscape.objective import Objective
from landscape.params import model_params


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rounds(contenders: dict[str, Callable[[], object]], repeats: int, device: str) -> dict:
    """Time every contender once per round, after a warm-up round; order rotated every round.

    Returns:
        contender name -> list of its times, one per timed round.

    """
    names = list(contenders)
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats + 1):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            sync(device)
            t = time.perf_counter()
            contenders[name]()
            sync(device)
            if r:
                times[name].append(time.perf_counter() - t)
    return times


def median_ratio(times: dict[str, list[float]], name: str, base: str) -> float:
    """Median over rounds of ``times[name] / times[base]`` (paired by round)."""
    return statistics.median(a / b for a, b in zip(times[name], times[base], strict=True))


class BatchedLoss(Metric):
    """A loss_landscapes metric doing the work ours does (loss and accuracy) over the same batches.

    ``random_plane`` stores one number per point, so the loss is returned and the
    accuracy computed alongside it.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int):
        super().__init__()
        self.x, self.y, self.bs = x, y, batch_size

    def __call__(self, model_wrapper) -> float:
        total, correct = 0.0, 0
        for i in range(0, len(self.x), self.bs):
            out = model_wrapper.forward(self.x[i : i + self.bs])
            y = self.y[i : i + self.bs]
            total += F.cross_entropy(out, y, reduction="sum").item()
            correct += int((out.argmax(1) == y).sum())  # computed like ours, not returned
        return total / len(self.x)


def li_et_al_loop(
    model: nn.Module, origin, dirs, coords, loader: DataLoader, *, device: str
) -> None:
    params = [p for _, p in model.named_parameters()]
    names = [n for n, _ in model.named_parameters()]
    model.eval()
    for a, b in coords:
        for p, n in zip(params, names, strict=True):
            p.data = origin[n] + a * dirs[0][n] + b * dirs[1][n]
        total, correct, seen = 0.0, 0, 0
        with torch.no_grad():
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                out = model(x)
                total += F.cross_entropy(out, y).item() * len(y)
                correct += (out.argmax(1) == y).sum().item()
                seen += len(y)


def run_case(
    name: str,
    model: nn.Module,
    x,
    y,
    *,
    batch_size: int,
    steps: int,
    repeats: int,
    device: str,
    ppp,
):
    model = model.to(device).eval()
    x, y = x.to(device), y.to(device)
    split = Split(x, y)
    obj = Objective(model, split, batch_size=batch_size)
    origin = model_params(model)
    dirs = random_directions(origin, ndim=2, seed=0)
    grid = np.linspace(-1, 1, steps)
    points = steps * steps

    @torch.inference_mode()
    def plain() -> None:
        total = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        for i in range(0, len(x), batch_size):
            out, target = model(x[i : i + batch_size]), y[i : i + batch_size]
            total += F.cross_entropy(out, target, reduction="sum")
            correct += (out.argmax(1) == target).sum()
        float(total), int(correct)

    wrapped = copy.deepcopy(model)
    metric = BatchedLoss(x, y, batch_size)
    loader = DataLoader(TensorDataset(x.cpu(), y.cpu()), batch_size=batch_size, shuffle=False)
    li_model = copy.deepcopy(model)
    coords = [(a, b) for b in grid for a in grid]
    times = rounds(
        {
            "plain": lambda: [plain() for _ in range(points)],
            "ours": lambda: compute_surface(
                {"train": obj}, origin, dirs, grid, grid, points_per_pass=ppp, progress=False
            ),
            "loss_landscapes": lambda: loss_landscapes.random_plane(
                wrapped, metric, distance=1, steps=steps, normalization="filter"
            ),
            "li_et_al": lambda: li_et_al_loop(
                li_model, origin, dirs.vectors, coords, loader, device=device
            ),
        },
        repeats,
        device,
    )
    ours, ll, li = (
        median_ratio(times, k, "plain") for k in ("ours", "loss_landscapes", "li_et_al")
    )
    print(
        f"{name:<28} points={points:<5} ours/plain={ours:5.2f}  "
        f"loss_landscapes/plain={ll:5.2f}  li_et_al/plain={li:5.2f}  "
        f"ours_speedup_vs_ll={median_ratio(times, 'loss_landscapes', 'ours'):5.2f}x  "
        f"vs_li={median_ratio(times, 'li_et_al', 'ours'):5.2f}x",
        flush=True,
    )


def gpu_batching(device: str, steps: int, repeats: int) -> None:
    torch.manual_seed(0)
    model = CNN1d().to(device)
    d = mnist1d()["train"]
    x, y = d.x.to(device), d.y.to(device)
    obj = Objective(model, Split(x, y), batch_size=4000)
    origin = model_params(model)
    dirs = random_directions(origin, ndim=2, seed=0)
    grid = np.linspace(-1, 1, steps)
    contenders: dict[str, Callable[[], object]] = {
        str(ppp): lambda ppp=ppp: compute_surface(
            {"train": obj}, origin, dirs, grid, grid, points_per_pass=ppp, progress=False
        )
        for ppp in (1, 8, 32, 128)
    }
    contenders["auto"] = lambda: compute_surface(
        {"train": obj}, origin, dirs, grid, grid, progress=False
    )
    times = rounds(contenders, repeats, device)
    row = "  ".join(f"ppp={k}: {median_ratio(times, '1', k):5.2f}x" for k in times)
    print(
        "GPU batched-point speed-up over one point per pass "
        f"(CNN1d, 4000 rows, {steps}x{steps}): {row}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=11)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--points-per-pass", type=int, default=None)
    ap.add_argument("--only", default="", help="run only the cases whose name contains this")
    ap.add_argument(
        "--default-malloc",
        action="store_true",
        help="leave glibc's malloc thresholds as they are (the landscape CLI tunes them)",
    )
    args = ap.parse_args()
    malloc = "glibc defaults" if args.default_malloc or not tune_malloc() else "tuned"
    torch.manual_seed(0)
    d = mnist1d()["train"]
    cases = [
        ("MLP, one batch of 4000", MLP(), 4000),
        ("MLP, batches of 1000", MLP(), 1000),
        ("MLP, batches of 128", MLP(), 128),
        ("CNN1d, batches of 1000", CNN1d(), 1000),
        ("ResNet1d, batches of 1000", ResNet1d(), 1000),
    ]
    print(
        f"device={args.device} torch={torch.__version__} threads={torch.get_num_threads()} "
        f"malloc={malloc}"
    )
    for name, model, bs in cases:
        if args.only not in name:
            continue
        before = os.times()
        run_case(
            name,
            model,
            d.x,
            d.y,
            batch_size=bs,
            steps=args.steps,
            repeats=args.repeats,
            device=args.device,
            ppp=args.points_per_pass,
        )
        after = os.times()
        user, system = after.user - before.user, after.system - before.system
        print(f"{'':<28} system time {system:.1f} s = {system / (user + system):.1%} of CPU time")
    if args.device.startswith("cuda"):
        gpu_batching(args.device, 21, args.repeats)


if __name__ == "__main__":
    main()
