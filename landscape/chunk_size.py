"""How many grid points the surface engine evaluates per step, tuned as it goes."""

from __future__ import annotations

import logging

import torch

from landscape.errors import LandscapeError
from landscape.evaluators import BNMode

log = logging.getLogger("landscape.engine")


class ChunkSize:
    """Points per step of the engine's loop.

    With stacked (vmap) evaluation a step is one forward pass and its points
    are fixed, or doubled while the time per point keeps falling by > 10%.
    Tuning runs on accelerators only: on CPUs one point per pass was measured
    fastest (``scripts/bench_surface.py``; vmap ran at 0.2-0.8x), so the CPU
    default is 1 without spending passes on the measurement.

    With one point per forward pass (``sequential``) a step evaluates as many
    points, one after the other, as take about :data:`STEP_SECONDS`, so that
    the per-step bookkeeping (gathering ranks' results, storing, progress) is
    spread over many points while the bar and the writer stay responsive.
    """

    STEP_SECONDS = 0.25
    MAX_SEQUENTIAL = 1024

    def __init__(
        self,
        points_per_pass: int | None,
        bn: BNMode,
        *,
        tune: bool = True,
        sequential: bool = False,
    ):
        self.size = points_per_pass or 1
        self.sequential = sequential
        self.tuning = points_per_pass is None and bn == "eval" and tune and not sequential
        self.best_rate = 0.0

    def observe(self, points: int, seconds: float) -> None:
        """Take the duration of a step of ``points`` points into account for the next ones."""
        if self.sequential:
            per_point = max(seconds, 1e-9) / points
            self.size = max(1, min(self.MAX_SEQUENTIAL, int(self.STEP_SECONDS / per_point)))
            return
        if not self.tuning or points != self.size:
            return
        rate = points / max(seconds, 1e-9)
        if rate > 1.1 * self.best_rate and self.size < 256:
            self.best_rate = max(self.best_rate, rate)
            self.size *= 2
        else:
            self.size = max(1, self.size // 2) if rate < self.best_rate else self.size
            self.tuning = False
            log.info("points per pass: %d", self.size)

    def out_of_memory(self, points: int) -> None:
        """Halve the points per pass after a pass of ``points`` ran out of memory, and stop tuning.

        Raises:
            LandscapeError: if a single point does not fit (with one point per
                pass, any out-of-memory error means that).

        """
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if points == 1 or self.sequential:
            raise LandscapeError("out of memory evaluating a single point; lower --batch-size")
        self.size, self.tuning = max(1, points // 2), False
        log.warning("out of memory with %d points per pass; continuing with %d", points, self.size)
