"""Torch-free records of a learning-rate sweep: each optimizer's grid, criterion and choice."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SweepCurve:
    """One optimizer's sweep: the learning rates tried and the criterion at each.

    Attributes:
        name: The optimizer's run name (``sgd``, ``sgd-momentum``, ...).
        grid: The initial grid, ascending.
        lrs: Every learning rate tried, ascending (the grid plus any extension).
        criterion: The criterion at each of ``lrs`` (``inf`` where the run diverged).
        chosen: The learning rate with the lowest criterion.
    """

    name: str
    grid: tuple[float, ...]
    lrs: tuple[float, ...]
    criterion: tuple[float, ...]
    chosen: float

    @property
    def at_edge(self) -> bool:
        """Whether the chosen rate is the smallest or the largest rate tried."""
        return self.chosen in (self.lrs[0], self.lrs[-1])

    @property
    def extended(self) -> tuple[float, ...]:
        """The rates tried beyond the initial grid (the sweep's extensions)."""
        return tuple(lr for lr in self.lrs if lr not in self.grid)

    @property
    def diverged(self) -> tuple[float, ...]:
        """The rates whose criterion is not finite."""
        return tuple(
            lr for lr, c in zip(self.lrs, self.criterion, strict=True) if not math.isfinite(c)
        )


@dataclass(frozen=True)
class LrSweep:
    """A learning-rate sweep over several optimizers.

    Attributes:
        criterion: What is minimised, in words (shown in the report).
        epochs: Epochs of every sweep run.
        seed: Seed of every sweep run.
        curves: One :class:`SweepCurve` per optimizer.
        command: How to reproduce it.
    """

    criterion: str
    epochs: int
    seed: int
    curves: tuple[SweepCurve, ...]
    command: str
