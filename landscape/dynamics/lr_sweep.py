"""A learning-rate sweep on disk: its criterion, its choice and reading it back (numpy only).

A sweep is a folder of ordinary runs, one per optimizer and learning rate::

    SWEEP/<name>/lr-<lr>/run.h5    e.g. sweep/adam/lr-0.003/run.h5

Each run is scored by :func:`sweep_criterion`, the mean validation loss over the last
quarter of its epochs (at least one): the quantity the comparison reports (the final
validation loss), averaged over a few epochs so that a rate is not chosen by the noise of
one epoch (a loss that oscillates at the edge of stability, say). A run whose loss is not
finite there has diverged and scores ``inf``. The rate with the lowest score is chosen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from landscape.dynamics.runs import read_run
from landscape.errors import LandscapeError
from landscape.records.sweep import SweepCurve

CRITERION = "mean validation loss over the last quarter of the epochs (at least one)"
"""The criterion in words, as the report states it."""


def lr_dir(lr: float) -> str:
    """The directory name of the sweep run at ``lr``.

    >>> lr_dir(0.5), lr_dir(0.003), lr_dir(1e-05)
    ('lr-0.5', 'lr-0.003', 'lr-1e-05')
    """
    return f"lr-{lr:g}"


def sweep_criterion(val_loss: np.ndarray) -> float:
    """Mean validation loss over the last quarter of the epochs after epoch 0 (at least one).

    Args:
        val_loss: The validation loss per epoch, epoch 0 (the initialization) first.

    Returns:
        The mean, or ``inf`` when any value in it is not finite (a diverged run).

    >>> sweep_criterion(np.array([2.3, 1.0, 0.8, 0.6, 0.5, 0.7, 0.5, 0.4, 0.6]))
    0.5
    >>> sweep_criterion(np.array([2.3, 1.0, np.nan]))
    inf
    """
    v = np.asarray(val_loss, np.float64)[1:]
    if not v.size:
        raise LandscapeError("sweep criterion: expected at least one epoch after epoch 0")
    tail = v[-max(1, v.size // 4) :]
    return float(tail.mean()) if np.isfinite(tail).all() else math.inf


def choose(lrs: Sequence[float], criterion: Sequence[float]) -> float:
    """The learning rate with the lowest criterion (the smaller rate on a tie).

    Raises:
        LandscapeError: when every run diverged.

    >>> choose([0.1, 0.2, 0.5], [0.9, 0.7, float("inf")])
    0.2
    """
    c = np.asarray(criterion, np.float64)
    if not np.isfinite(c).any():
        raise LandscapeError(
            f"learning-rate sweep: every rate diverged ({', '.join(map(str, lrs))})"
        )
    return float(lrs[int(np.argmin(c))])


def read_curve(
    folder: str | Path, name: str, grid: Sequence[float], lrs: Sequence[float]
) -> SweepCurve:
    """Read the sweep runs ``folder/name/lr-<lr>/`` of one optimizer and choose its rate.

    Args:
        folder: The sweep folder.
        name: The optimizer's run name.
        grid: Its initial grid.
        lrs: Every rate tried (the grid and its extensions).

    Raises:
        LandscapeError: when a run is missing, or its stored learning rate disagrees
            with its directory name.

    """
    found: list[tuple[float, float]] = []
    for lr in sorted(set(lrs)):
        path = Path(folder) / name / lr_dir(lr)
        run = read_run(path)
        if float(run.config["lr"]) != lr:
            raise LandscapeError(f"{path}: stores lr {run.config['lr']}, expected {lr:g}")
        found.append((lr, sweep_criterion(run.epochs["val_loss"])))
    tried = tuple(lr for lr, _ in found)
    crit = tuple(c for _, c in found)
    return SweepCurve(name, tuple(sorted(grid)), tried, crit, choose(tried, crit))
