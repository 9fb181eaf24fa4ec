"""Adaptive surfaces (``--tolerance``) against full-data surfaces, side by side in one run.

A trained MLP on a synthetic classification set large enough that the full pass per point
dominates (``--rows`` train rows, 40 features, 10 overlapping Gaussian classes); the same
random filter-normalized 2D grid is computed on all the data and with
``compute_surface(tolerance=TOL)`` (:class:`landscape.adaptive.AdaptivePointEvaluator`).
Printed: both wall times and their ratio, the rows used per point, the share of points whose
adaptive train loss is within TOL of the full-data value, the largest error, and the share
within two of each point's own standard errors. Usage::

    python scripts/bench_adaptive.py [--rows 60000] [--steps 11] [--tolerance 0.02] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from landscape.models import MLP
from landscape.pipelines.surface import surface
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


def timed(model: MLP, data: tuple, steps: int, tolerance: float | None) -> tuple[Surface, float]:
    start = time.perf_counter()
    result = surface(
        model,
        None,
        data,
        x=f"-1:1:{steps}",
        y=f"-1:1:{steps}",
        batch_size=1000,
        points_per_pass=1,
        tolerance=tolerance,
        progress=False,
    )
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--steps", type=int, default=11)
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, y = synthetic_data(args.rows)
    model = trained_mlp(x, y)
    data = (x, y)
    full, t_full = timed(model, data, args.steps, None)
    adaptive, t_adaptive = timed(model, data, args.steps, args.tolerance)
    loss, exact = adaptive.values["train_loss"], full.values["train_loss"]
    error = np.abs(loss - exact)
    rows = adaptive.values["train_rows"]
    se = adaptive.values["train_loss_se"]
    print(
        f"{args.rows} rows, MLP 40-100-100-10, {args.steps}x{args.steps} grid, batch 1000, "
        f"{args.threads} thread(s), TOL={args.tolerance}"
    )
    print(f"full-data loss: min {exact.min():.3f}, max {exact.max():.3f}")
    print(
        f"full data: {t_full:.2f} s; adaptive: {t_adaptive:.2f} s; ratio {t_full / t_adaptive:.2f}x"
    )
    print(
        f"rows used per point: min {rows.min():.0f}, median {np.median(rows):.0f}, "
        f"max {rows.max():.0f} (mean {rows.mean() / args.rows:.1%} of the split)"
    )
    print(
        f"points within TOL of the full-data loss: {np.mean(error <= args.tolerance):.1%}; "
        f"largest error {error.max():.4f}; within 2 SE: {np.mean(error <= 2 * se):.1%}"
    )


if __name__ == "__main__":
    main()
