"""When the Recorder writes its run file: the one flush rule, and the clock it reads.

A write is due

- when ``flush_seconds`` have passed since the last write, whatever the
  budget (records never wait longer than that, up to the next step); or
- at the end of an epoch, when one more write fits the budget: the time
  spent writing so far, plus the next write counted as long as the last one,
  stays within ``write_share`` of the time since the Recorder started
  (``write_share = 1`` always fits).

Mid-epoch steps are therefore written only when overdue, and a finished
epoch as soon as the budget allows. The first write always fits (nothing
written yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class WriteBudget:
    """Decide when a write is due, and account for the writes made.

    Args:
        write_share: the fraction of the elapsed time that writing may take, in (0, 1].
        flush_seconds: the longest time between writes.
        clock: seconds from any fixed origin, non-decreasing (a fake one in tests).

    >>> now = [0.0]
    >>> budget = WriteBudget(write_share=0.25, flush_seconds=100.0, clock=lambda: now[0])
    >>> budget.due(epoch_end=True), budget.due(epoch_end=False)  # nothing written yet
    (True, False)
    >>> budget.wrote(start=0.0)  # a write that took no time ...
    >>> now[0] = 4.0; budget.wrote(start=2.0)  # ... and one of 2 s, ending at 4 s
    >>> budget.due(epoch_end=True)  # 2 + 2 > 0.25 * 4
    False
    >>> now[0] = 16.0; budget.due(epoch_end=True)  # 2 + 2 <= 0.25 * 16
    True
    >>> now[0] = 104.0; budget.due(epoch_end=False)  # 100 s since the last write
    True
    """

    def __init__(
        self,
        *,
        write_share: float,
        flush_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write_share = write_share
        self.flush_seconds = flush_seconds
        self.clock = clock
        self.started = self.last_write_end = clock()
        self.last_write_seconds = 0.0
        self.total_write_seconds = 0.0

    def due(self, *, epoch_end: bool) -> bool:
        """Whether to write now: overdue, or at an epoch's end within the budget."""
        now = self.clock()
        if now - self.last_write_end >= self.flush_seconds:
            return True
        return epoch_end and self._fits(now)

    def wrote(self, *, start: float) -> None:
        """Account for a write that began at ``start`` (a :attr:`clock` reading) and ended now."""
        self.last_write_end = self.clock()
        self.last_write_seconds = self.last_write_end - start
        self.total_write_seconds += self.last_write_seconds

    def _fits(self, now: float) -> bool:
        """Whether one more write, as long as the last, keeps writing within ``write_share``."""
        if self.write_share >= 1.0:
            return True
        spent = self.total_write_seconds + self.last_write_seconds
        return spent <= self.write_share * (now - self.started)
