"""The one progress factory: a tqdm bar on a terminal, one line per finished stage elsewhere.

Every loop a person waits for goes through :func:`progress`. On a terminal
(or in a notebook, where ``tqdm.auto`` draws a widget) it is a tqdm bar whose
description names what it belongs to (``train sgd``, ``surface s.h5``); a bar
opened while another one is open is nested under it and removed when it
finishes (``leave=False``), so nested bars leave no blank lines. When stderr
is not a terminal (a log file, a pipe, a CI job) no bar is drawn, which would
leave cursor-movement codes in the file; each stage prints one line when it
finishes instead::

    train sgd: 20/20 epoch in 12.4 s

and, while a long stage runs, a line at most every :data:`REPORT_EVERY_S`
seconds with the count, the total, the time so far and the estimated time left
(the rate so far times what is left), and the current sub-stage::

    sharpness c.h5: 40/220 hessian-vector product, 00:31 elapsed, ETA 02:20 (trace)

``enabled=False`` (``-q``) prints nothing at all.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sized
from typing import Any, Generic, TypeVar

import tqdm.auto

T = TypeVar("T")

REPORT_EVERY_S = 30.0
"""Least seconds between two interim lines of a stage when no bar is drawn."""


def draws_bars() -> bool:
    """Whether bars can be drawn: stderr is a terminal, or ``tqdm.auto`` found a notebook."""
    in_notebook = any(c.__module__ == "tqdm.notebook" for c in tqdm.auto.tqdm.__mro__)
    return sys.stderr.isatty() or in_notebook


class StageLine(Generic[T]):
    """A stand-in for a tqdm bar that prints one line when its stage ends.

    It has the part of tqdm's interface the loops use: iteration,
    ``update``, ``set_postfix_str``, ``close`` and ``with``.

    Args:
        iterable: items to pass through while counting them, or ``None``.
        total: expected count (``len(iterable)`` when it has one).
        desc: what the stage is, printed first.
        unit: what is counted.
        initial: count already done before this call (a resumed run).
        enabled: print the line at all.

    >>> import io, contextlib
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     for _ in StageLine(range(3), desc="demo", unit="pt"):
    ...         pass
    >>> err.getvalue().split(" in ")[0]
    'demo: 3/3 pt'

    """

    def __init__(
        self,
        iterable: Iterable[T] | None = None,
        *,
        total: int | None = None,
        desc: str,
        unit: str = "it",
        initial: int = 0,
        enabled: bool = True,
    ) -> None:
        self.iterable = iterable
        self.total = len(iterable) if total is None and isinstance(iterable, Sized) else total
        self.desc, self.unit, self.n, self.enabled = desc, unit, initial, enabled
        self.postfix = ""
        self._start = time.monotonic()
        self._last_line = self._start
        self._initial = initial
        self._closed = False

    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError("StageLine: nothing to iterate (made without an iterable)")
        try:
            for item in self.iterable:
                yield item
                self.n += 1
                self._report_if_due()
        finally:
            self.close()

    def __enter__(self) -> StageLine[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more."""
        self.n += n
        self._report_if_due()

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        """Remember ``text`` (the current sub-stage), printed after the count."""
        self.postfix = text
        self._report_if_due()

    def set_postfix(self, refresh: bool = True, **values: object) -> None:
        """Remember ``values`` (e.g. the current loss), printed after the count."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def refresh(self) -> None:
        """Nothing to redraw: the line is printed once, when the stage closes."""

    def eta(self) -> float | None:
        """Estimated seconds left: the rate of this call so far times what is left (``None``: unknown).

        >>> line = StageLine(total=10, desc="x", initial=2)
        >>> line.n, line._start = 6, line._start - 8.0  # 4 counted in 8 s
        >>> round(line.eta())
        8
        """
        done = self.n - self._initial
        if self.total is None or done <= 0:
            return None
        elapsed = time.monotonic() - self._start
        return max(self.total - self.n, 0) * elapsed / done

    def _report_if_due(self) -> None:
        """Print an interim line if the stage is open and :data:`REPORT_EVERY_S` have passed."""
        now = time.monotonic()
        if not self.enabled or self._closed or now - self._last_line < REPORT_EVERY_S:
            return
        self._last_line = now
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        eta = self.eta()
        left = "" if eta is None else f", ETA {tqdm.auto.tqdm.format_interval(eta)}"
        tail = f" ({self.postfix})" if self.postfix else ""
        elapsed = tqdm.auto.tqdm.format_interval(now - self._start)
        print(f"{self.desc}: {count} {self.unit}, {elapsed} elapsed{left}{tail}", file=sys.stderr)

    def close(self) -> None:
        """Print the stage's line once (``desc: n/total unit in s``)."""
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        tail = f" ({self.postfix})" if self.postfix else ""
        seconds = time.monotonic() - self._start
        print(f"{self.desc}: {count} {self.unit} in {seconds:.1f} s{tail}", file=sys.stderr)


def progress(
    iterable: Iterable[T] | None = None,
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    initial: int = 0,
    enabled: bool = True,
) -> Any:
    """Make the progress display of one stage: a tqdm bar, a :class:`StageLine`, or nothing.

    Args:
        iterable: items to iterate while counting, or ``None`` to call ``update``.
        desc: what the stage belongs to, e.g. ``"train sgd"``; shown first.
        total: expected count (default ``len(iterable)``).
        unit: what is counted.
        initial: count already done (a resumed run).
        enabled: ``False`` (``-q``, or not rank 0) shows nothing.

    Returns:
        An object with tqdm's ``update``/``set_postfix_str``/``close``,
        iterable when ``iterable`` was given, usable in ``with``.

    """
    if not (enabled and draws_bars()):
        return StageLine(
            iterable, total=total, desc=desc, unit=unit, initial=initial, enabled=enabled
        )
    nested = bool(tqdm.auto.tqdm._instances)
    return tqdm.auto.tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        initial=initial,
        leave=not nested,
        dynamic_ncols=True,
    )
