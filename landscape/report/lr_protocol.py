"""The report's learning-rate protocol: criterion, grid, choice and whether it sits at an edge.

Drawn from a :class:`~landscape.records.sweep.LrSweep` (the runs of
:func:`landscape.pipelines.lr_sweep.run_sweep`, read back by
:func:`landscape.dynamics.lr_sweep.read_curve`): one row per optimizer with every rate
tried and its criterion, the chosen rate, and an edge flag, so that a reader sees how the
rates compared were picked and where the choice is uncertain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from landscape.records.sweep import LrSweep, SweepCurve
from landscape.report.table import Table

HEADERS = ("optimizer", "rates tried (criterion)", "chosen η", "criterion", "at grid edge")


@dataclass(frozen=True)
class ProtocolText:
    """The protocol section: how the rates were chosen, the table, how to reproduce it."""

    lines: tuple[str, ...]
    table: Table


def format_criterion(value: float) -> str:
    """A criterion value (``diverged`` where it is not finite).

    >>> format_criterion(1.23456), format_criterion(float("inf"))
    ('1.235', 'diverged')
    """
    return f"{value:.4g}" if math.isfinite(value) else "diverged"


def _row(c: SweepCurve) -> tuple[str, ...]:
    tried = ", ".join(
        f"{lr:g}{'⁺' if lr in c.extended else ''} ({format_criterion(v)})"
        for lr, v in zip(c.lrs, c.criterion, strict=True)
    )
    best = c.criterion[c.lrs.index(c.chosen)]
    return (c.name, tried, f"{c.chosen:g}", format_criterion(best), "yes" if c.at_edge else "no")


def lr_protocol(sweep: LrSweep) -> ProtocolText:
    """The learning-rate protocol of ``sweep`` as lines and a table."""
    edge = [c.name for c in sweep.curves if c.at_edge]
    extended = [c.name for c in sweep.curves if c.extended]
    lines = [
        f"Each optimizer's learning rate was chosen by a sweep run by the demo itself: one "
        f"run per rate of its grid, {sweep.epochs} epochs, seed {sweep.seed} (not one of the "
        f"compared seeds), everything else as in the compared runs. Criterion: the "
        f"{sweep.criterion}; the lowest wins.",
        "When the best rate was the smallest or largest tried, the grid was extended one step "
        "beyond it (⁺ in the table) and the sweep went on, at most twice. "
        + (f"Extended: {', '.join(extended)}. " if extended else "No grid needed an extension. ")
        + (
            f"Still at the edge of the rates tried: {', '.join(edge)} (its best rate may lie "
            "beyond them)."
            if edge
            else "Every chosen rate lies inside the rates tried."
        ),
        "The validation split both chooses the rates and scores the runs (MNIST-1D has no "
        "third split), which favours every optimizer alike.",
    ]
    if sweep.command:
        lines.append(f"Reproduce: {sweep.command}")
    return ProtocolText(tuple(lines), Table(HEADERS, tuple(_row(c) for c in sweep.curves), ()))
