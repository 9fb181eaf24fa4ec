"""Intervals and tests for the numbers a report compares (numpy and scipy only).

A quantity measured once per seed is summarised by its mean and a Student-t interval over
the seeds; two groups are compared by Welch's t-test (unequal variances), and a family of
such comparisons is controlled by Holm's step-down procedure (Holm 1979), so that the chance
of naming any difference that is not there stays at most ``alpha``.

>>> iv = mean_interval([1.0, 2.0, 3.0])
>>> round(iv.estimate, 6), round(iv.low, 4), round(iv.high, 4), iv.n
(2.0, -0.4841, 4.4841, 3)
>>> holm([0.01, 0.04, 0.03], alpha=0.05)
[True, False, False]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

LEVEL = 0.95
"""Confidence level of every interval the report states."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval.

    Attributes:
        estimate: The mean (or difference of means).
        low: Lower end of the interval; NaN when it cannot be computed (one sample).
        high: Upper end of the interval; NaN when it cannot be computed.
        n: Number of samples behind the estimate (seeds, or seeds per group).
        method: How the interval was made, in words a report can print.
    """

    estimate: float
    low: float
    high: float
    n: int
    method: str

    @property
    def known(self) -> bool:
        """Whether the interval has finite ends."""
        return math.isfinite(self.low) and math.isfinite(self.high)

    def text(self, fmt: str = ".3g") -> str:
        """The estimate with its interval, e.g. ``0.51 (95% CI 0.47-0.55, 3 seeds)``.

        >>> Interval(0.5, 0.4, 0.6, 3, "t").text()
        '0.5 (95% CI 0.4 to 0.6, n=3)'
        >>> Interval(0.5, math.nan, math.nan, 1, "t").text()
        '0.5 (n=1, no interval)'
        >>> Interval(7.0, 7.0, 7.0, 3, "t").text()   # measured at a resolution, not certain
        '7 (the same in all 3 seeds)'
        """
        if not self.known:
            return f"{self.estimate:{fmt}} (n={self.n}, no interval)"
        if self.low == self.high:
            seeds = "both seeds" if self.n == 2 else f"all {self.n} seeds"
            return f"{self.estimate:{fmt}} (the same in {seeds})"
        return (
            f"{self.estimate:{fmt}} ({LEVEL:.0%} CI {self.low:{fmt}} to {self.high:{fmt}}, "
            f"n={self.n})"
        )


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def mean_interval(
    values: Sequence[float], level: float = LEVEL, bounds: tuple[float, float] | None = None
) -> Interval:
    """Mean of per-seed values with a Student-t interval.

    ``mean ± t_{1-(1-level)/2, n-1} · s / sqrt(n)``, with ``s`` the sample standard
    deviation. Non-finite values are left out; with fewer than two values the interval is
    unknown (NaN ends). With ``bounds``, the range the mean can take (a share: ``(0, 1)``),
    the interval is intersected with it: the true mean lies in that range, so the
    intersection covers it whenever the t interval does and the level is kept.

    Args:
        values: One value per seed.
        level: Confidence level.
        bounds: ``(lowest, highest)`` value the mean can take, or ``None``.

    Returns:
        The mean and its interval.

    >>> iv = mean_interval([0.8, 0.95, 1.0], bounds=(0.0, 1.0))
    >>> round(iv.low, 3), iv.high
    (0.658, 1.0)
    """
    x = _finite(values)
    n = int(x.size)
    method = f"Student t over {n} seeds"
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, method)
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, method)
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    if sem == 0.0:
        return Interval(mean, mean, mean, n, method)
    low, high = sps.t.interval(level, n - 1, loc=mean, scale=sem)
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Interval(mean, float(low), float(high), n, method)


@dataclass(frozen=True)
class Difference:
    """The difference of two groups' means, with Welch's interval and p-value.

    Attributes:
        interval: ``mean(a) - mean(b)`` with its Welch interval.
        p_value: Two-sided p-value of Welch's t-test; NaN when a group has fewer than two
            values or both have no spread (no test possible).
    """

    interval: Interval
    p_value: float


def welch_difference(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Difference:
    """Welch's t-test and interval for ``mean(a) - mean(b)`` (Welch 1947).

    Args:
        a: Per-seed values of the first group.
        b: Per-seed values of the second group.
        level: Confidence level of the interval.

    Returns:
        The difference, its interval and the two-sided p-value.

    >>> d = welch_difference([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
    >>> round(d.interval.estimate, 6), d.p_value < 0.01
    (-1.0, True)
    """
    x, y = _finite(a), _finite(b)
    n = int(min(x.size, y.size))
    method = f"Welch t over {x.size} and {y.size} seeds"
    if x.size == 0 or y.size == 0:
        return Difference(Interval(math.nan, math.nan, math.nan, n, method), math.nan)
    estimate = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2 or (_constant(x) and _constant(y)):
        return Difference(Interval(estimate, math.nan, math.nan, n, method), math.nan)
    if _constant(x) or _constant(y):
        # One group without spread: Welch's standard error and Welch-Satterthwaite degrees
        # of freedom reduce to the other group's alone, i.e. a one-sample t-test of it
        # against the constant (scipy's two-sample path warns of cancellation here).
        const, other, sign = (x, y, -1.0) if _constant(x) else (y, x, 1.0)
        c = float(const.mean())
        one = sps.ttest_1samp(other, popmean=c)
        ci = one.confidence_interval(confidence_level=level)
        low, high = sorted((sign * (float(ci.low) - c), sign * (float(ci.high) - c)))
        return Difference(Interval(estimate, low, high, n, method), float(one.pvalue))
    result = sps.ttest_ind(x, y, equal_var=False)
    ci = result.confidence_interval(confidence_level=level)
    return Difference(
        Interval(estimate, float(ci.low), float(ci.high), n, method), float(result.pvalue)
    )


def _constant(values: np.ndarray) -> bool:
    """Whether the values differ by no more than a few rounding errors of their size."""
    return bool(np.ptp(values) <= 4 * np.finfo(np.float64).eps * np.abs(values).max())


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values for a family of tests (Holm 1979).

    With the m p-values sorted ascending, ``p~_(i) = max_{j<=i} min(1, (m - j) p_(j))``
    (j from 0); rejecting every test whose adjusted p-value is at most ``alpha`` is Holm's
    step-down procedure and keeps the family-wise error rate at most ``alpha``. NaN
    p-values (no test possible) count in m and stay NaN. scipy has no Holm procedure
    (``scipy.stats.false_discovery_control`` controls the false discovery rate, a weaker
    guarantee), hence these few lines.

    Args:
        p_values: The family's p-values.

    Returns:
        The adjusted p-values, in the order given.

    >>> [round(p, 3) for p in holm_adjusted([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    adjusted = np.full(m, np.nan)
    running = 0.0
    for rank, index in enumerate(np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")):
        if np.isnan(p[index]):
            break
        running = max(running, min(1.0, (m - rank) * float(p[index])))
        adjusted[index] = running
    return adjusted.tolist()


def holm(p_values: Sequence[float], alpha: float = 1.0 - LEVEL) -> list[bool]:
    """Holm's step-down rejections at family-wise error rate ``alpha``.

    Args:
        p_values: The family's p-values.
        alpha: Family-wise error rate.

    Returns:
        For each p-value, whether its null hypothesis is rejected.
    """
    return [bool(p <= alpha) for p in holm_adjusted(p_values)]
