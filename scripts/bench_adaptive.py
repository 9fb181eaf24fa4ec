"""Adaptive surfaces (``--tolerance``) against full-data surfaces, side by side in one run.

A trained MLP on a synthetic classification set large enough that the full pass per point
dominates (``--rows`` train rows, 40 features, 10 overlapping Gaussian classes); the same
random filter-normalized 2D grid is computed on all the data and with
``compute_surface(tolerance=TOL)`` (:class:`landscape.adaptive.AdaptivePointEvaluator`), one
after the other. Printed: the load average, both wall and CPU times and their ratios, the
rows used per point, the share of points whose adaptive train loss is within TOL of the
full-data value, the largest error, and the share within ``1.96`` of each point's own
standard errors (its 95% interval). Since every point of one surface shares one row order,
those shares come from one draw; ``--orders N`` also evaluates every point with N other row
orders (seeds 1..N, not timed, with the surface's reference points) and prints the coverage
over all of them. Usage::

    python scripts/bench_adaptive.py [--rows 60000] [--steps 11] [--tolerance 0.02]
        [--batch-size 1000] [--threads 1] [--orders 0]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from landscape import surface
from landscape.adaptive import AdaptivePointEvaluator, axis_anchors
from landscape.adaptive_stats import Z95
from landscape.data import Split
from landscape.directions import random_directions
from landscape.engine import grid_coords
from landscape.models import MLP
from landscape.objective import Objective
from landscape.params import model_params
from landscape.records import Surface


def synthetic_data(rows: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` points of 10 Gaussian classes in 40 dimensions that overlap (loss ~1 when fit)."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(10, 40, generator=g) * 0.35
    y = torch.randint(0, 10, (rows,), generator=g)
    x = means[y] + torch.randn(rows, 40, generator=g)
    return x, y


def trained_mlp(x: torch.Tensor, y: torch.Tensor, epochs: int = 2) -> MLP:
    """An MLP 40-100-100-10 after ``epochs`` of Adam (batch 256, lr 1e-3)."""
    torch.manual_seed(0)
    model = MLP(40, 10, hidden=(100, 100))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(256):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def timed(
    model: MLP, data: tuple, steps: int, batch_size: int, tolerance: float | None
) -> tuple[Surface, float, float]:
    """The surface, its wall time and its CPU time (this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = surface(
        model,
        None,
        data,
        x=f"-1:1:{steps}",
        y=f"-1:1:{steps}",
        batch_size=batch_size,
        points_per_pass=1,
        tolerance=tolerance,
        progress=False,
    )
    return result, time.perf_counter() - wall, time.process_time() - cpu


def coverage_over_orders(
    model: MLP, data: tuple, args: argparse.Namespace, exact: np.ndarray
) -> tuple[float, float, float]:
    """Share within 95% intervals, within TOL, and mean rows used, over ``args.orders`` orders."""
    objective = Objective(model, Split(*data), batch_size=args.batch_size)
    origin = model_params(model)
    vectors = random_directions(origin, ndim=2, seed=0).vectors  # the surface's directions
    grid = np.linspace(-1, 1, args.steps)
    coords = grid_coords(grid, grid)
    truth = exact.ravel()
    covered, within, rows = [], [], []
    for seed in range(1, args.orders + 1):
        ev = AdaptivePointEvaluator(
            objective,
            origin,
            vectors,
            tolerance=args.tolerance,
            seed=seed,
            anchors=axis_anchors(coords),  # as the surface pipeline passes them
        )
        values = ev.evaluate(coords)
        error = np.abs(values.loss - truth)
        covered.append(error <= Z95 * values.loss_se + 1e-12)
        within.append(error <= args.tolerance)
        rows.append(values.rows / args.rows)
    return float(np.mean(covered)), float(np.mean(within)), float(np.mean(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--steps", type=int, default=11)
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--orders", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, y = synthetic_data(args.rows)
    model = trained_mlp(x, y)
    data = (x, y)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    full, wall_full, cpu_full = timed(model, data, args.steps, args.batch_size, None)
    adaptive, wall_adaptive, cpu_adaptive = timed(
        model, data, args.steps, args.batch_size, args.tolerance
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    loss, exact = adaptive.values["train_loss"], full.values["train_loss"]
    error = np.abs(loss - exact)
    rows = adaptive.values["train_rows"]
    se = adaptive.values["train_loss_se"]
    print(
        f"{args.rows} rows, MLP 40-100-100-10, {args.steps}x{args.steps} grid, batch "
        f"{args.batch_size}, {args.threads} thread(s), TOL={args.tolerance}"
    )
    print(f"full-data loss: min {exact.min():.3f}, max {exact.max():.3f}")
    print(
        f"wall: full data {wall_full:.2f} s, adaptive {wall_adaptive:.2f} s, "
        f"ratio {wall_full / wall_adaptive:.2f}x; CPU: {cpu_full:.2f} s, {cpu_adaptive:.2f} s, "
        f"ratio {cpu_full / cpu_adaptive:.2f}x"
    )
    print(
        f"rows used per point: min {rows.min():.0f}, median {np.median(rows):.0f}, "
        f"max {rows.max():.0f} (mean {rows.mean() / args.rows:.1%} of the split)"
    )
    print(
        f"points within TOL of the full-data loss: {np.mean(error <= args.tolerance):.1%}; "
        f"largest error {error.max():.4f}; within 1.96 SE (95% interval): "
        f"{np.mean(error <= Z95 * se + 1e-12):.1%}; within 2 SE: {np.mean(error <= 2 * se):.1%}"
    )
    if args.orders:
        covered, within, used = coverage_over_orders(model, data, args, exact)
        print(
            f"over {args.orders} other row orders: within the 95% interval {covered:.1%}, "
            f"within TOL {within:.1%}, mean rows {used:.1%} of the split"
        )


if __name__ == "__main__":
    main()
