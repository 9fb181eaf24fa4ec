"""The sampling statistics of :mod:`landscape.adaptive`: estimator, variance and stopping rule.

Pure numpy over *units* (rows, or whole batches where per-row losses cannot be had): ``S_i``
a unit's summed loss at the point, ``m_i`` its rows or counted tokens, ``C_ij`` the summed
loss of reference point ``j`` on it. The formulas, with their sources (Cochran 1977; Stein
1945), are in the docstring of :mod:`landscape.adaptive`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

Z95 = float(sps.norm.ppf(0.975))
"""``z_{0.975}``: the stored standard error is the 95% half-width divided by it."""


SKEW_RULE = 25
"""Cochran's rule (1977, section 2.15): the normal interval of a mean holds for ``n > 25 G1^2``.

``G1`` is the population's skewness. A reference point's per-row losses are known on every
row, so their skewness sets the pilot's least size: a trained network's cross-entropy is near
0 on most rows and large on a few, which a small pilot misses (its spread then reads small).
"""


def skew_rule(values: np.ndarray) -> int:
    """``ceil(25 g1^2)``, the least sample size of Cochran's rule for the skewness of ``values``.

    >>> skew_rule(np.array([0.0, 0.0, 0.0, 1.0]))  # g1 = 2 / sqrt(3)
    34
    >>> skew_rule(np.ones(3))
    0
    """
    if np.ptp(values) == 0:
        return 0
    return math.ceil(SKEW_RULE * float(sps.skew(values)) ** 2)


@functools.cache
def t_quantile(df: int) -> float:
    """``t_{0.975, df}``, the Student-t quantile of a two-sided 95% interval.

    >>> round(t_quantile(8), 4)
    2.306
    """
    return float(sps.t.ppf(0.975, df))


def units_needed(variance: float, df: int, tolerance: float, total: int) -> int:
    """Stein's second-stage sample size: the fewest ``n`` with ``t^2 (1 - n/N) s^2 / n <= TOL^2``.

    Args:
        variance: ``s^2``, the pilot's variance per unit of the mean loss per row.
        df: its degrees of freedom.
        tolerance: the largest 95% half-width.
        total: ``N``, the split's units (the result is at most ``N``).

    >>> units_needed(0.0, 8, 0.1, 60)
    0
    >>> units_needed(1.0, 8, 0.1, 10**9)  # t^2 / TOL^2 = 531.7...
    532
    """
    spread = t_quantile(df) ** 2 * variance
    if not math.isfinite(spread):
        return total
    return min(total, math.ceil(spread / (tolerance**2 + spread / total)))


def regression_fit(
    sums: np.ndarray, sizes: np.ndarray, references: np.ndarray | None
) -> tuple[np.ndarray, float, int]:
    """Slopes ``b``, residual variance ``s^2`` and its degrees of freedom over sampled units.

    ``u_i = S_i - R m_i``, ``v_ij = C_ij - R_Cj m_i``, ``b`` the least-squares fit of ``u`` on
    the columns of ``v``, ``e = u - v b``, ``s^2 = sum e^2 / (df mbar^2)`` with
    ``df = n - 1 - q`` for ``q`` reference points (``b`` empty without one).

    Args:
        sums: each sampled unit's summed loss ``S_i``.
        sizes: each sampled unit's rows or tokens ``m_i``.
        references: ``C_ij``, shape ``(n,)`` for one reference point or ``(n, q)``; or ``None``.

    >>> regression_fit(np.array([2.0, 4.0, 3.0]), np.full(3, 2.0), None)
    (array([], dtype=float64), 0.25, 2)
    >>> b, s2, df = regression_fit(np.array([2.0, 4.0, 3.0]), np.full(3, 2.0), np.array([1, 2, 1.5]))
    >>> b.round(12).tolist(), round(s2, 12), df
    ([2.0], 0.0, 1)
    """
    b, residual, df = regression_residuals(sums, sizes, references)
    return b, residual_variance(residual, sizes, df), df


def residual_variance(residual: np.ndarray, sizes: np.ndarray, df: int) -> float:
    """``s^2 = sum e_i^2 / (df mbar^2)``, the variance per unit of the mean loss per row.

    >>> residual_variance(np.array([1.0, -1.0, 0.0]), np.full(3, 2.0), 2)
    0.25
    """
    return float(residual @ residual) / (df * float(sizes.mean()) ** 2)


def regression_residuals(
    sums: np.ndarray, sizes: np.ndarray, references: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Slopes ``b``, residuals ``e_i`` and degrees of freedom of :func:`regression_fit`.

    >>> b, e, df = regression_residuals(np.array([2.0, 4.0, 3.0]), np.ones(3), None)
    >>> b.tolist(), e.tolist(), df
    ([], [-1.0, 1.0, 0.0], 2)
    """
    u = sums - sums.sum() / sizes.sum() * sizes
    if references is None:
        return np.zeros(0), u, len(sums) - 1
    c = references.reshape(len(sums), -1)
    v = c - np.outer(sizes, c.sum(axis=0) / sizes.sum())
    b = np.linalg.lstsq(v.T @ v, v.T @ u, rcond=None)[0]  # the normal equations
    return b, u - v @ b, len(sums) - 1 - len(b)


def regression_estimate(
    sums: float, sizes: float, slopes: np.ndarray, references: np.ndarray, means: np.ndarray
) -> float:
    """``L = R + sum_j b_j (L_Cj - R_Cj)``, ``R = sum S_i / sum m_i``, ``R_Cj = sum C_ij / sum m_i``.

    Args:
        sums: ``sum S_i`` over the sampled units.
        sizes: ``sum m_i`` over them.
        slopes: ``b`` (empty without a reference point).
        references: ``sum C_ij`` over them, per reference point.
        means: ``L_Cj``, each reference point's mean loss per row over the population.

    >>> regression_estimate(6.0, 2.0, np.array([2.0]), np.array([3.0]), np.array([2.0]))
    4.0
    """
    return sums / sizes + float(slopes @ (means - references / sizes))


def binomial_standard_error(p: float, n: int, population: int) -> float:
    """``sqrt(p (1 - p) / n) sqrt(1 - n / N)``: a sampled proportion's standard error.

    >>> binomial_standard_error(0.5, 100, 100)
    0.0
    >>> round(binomial_standard_error(0.5, 25, 10**9), 6)
    0.1
    """
    if n <= 0:
        return math.nan
    return math.sqrt(p * (1.0 - p) / n * max(0.0, 1.0 - n / population))


def in_order_sum(values: np.ndarray) -> float:
    """``((v_0 + v_1) + v_2) + ...`` in float64, as the full-data evaluators accumulate."""
    total = 0.0
    for v in values.tolist():
        total += v
    return total


@dataclass(frozen=True)
class PointValues:
    """One point's adaptive values.

    Attributes:
        loss: Estimated mean loss per row (exact at full data).
        acc: Accuracy over the rows used (NaN without accuracy).
        loss_se: Standard error of ``loss`` (95% half-width / 1.96; 0 at full data).
        acc_se: Binomial standard error of ``acc``.
        rows: Rows (or counted tokens) used.
    """

    loss: float
    acc: float
    loss_se: float
    acc_se: float
    rows: int


@dataclass(frozen=True)
class AdaptiveValues:
    """Per-point values of an adaptive evaluation: :class:`PointValues` fields as arrays."""

    loss: np.ndarray
    acc: np.ndarray
    loss_se: np.ndarray
    acc_se: np.ndarray
    rows: np.ndarray


def sampled_values(
    loss: float,
    variance: float,
    df: int,
    *,
    used: int,
    total: int,
    rows_used: int,
    correct: int | None,
    population: int,
) -> PointValues:
    """A sampled point's values: ``loss_se = t sqrt((1 - n/N) s^2 / n) / z`` and the binomial SE.

    Args:
        loss: the estimate.
        variance: the pilot's ``s^2``; ``df`` its degrees of freedom.
        df: see ``variance``.
        used: ``n``, the units used; ``total`` ``N``, the split's units.
        total: see ``used``.
        rows_used: rows or tokens used (the accuracy's sample).
        correct: correct rows or tokens among them (``None`` without accuracy).
        population: the split's rows or tokens.
    """
    scale = (1 - used / total) * variance / used
    loss_se = t_quantile(df) * math.sqrt(scale) / Z95 if df > 0 else math.nan
    if correct is None:
        return PointValues(loss, math.nan, loss_se, math.nan, rows_used)
    acc = correct / rows_used
    return PointValues(
        loss, acc, loss_se, binomial_standard_error(acc, rows_used, population), rows_used
    )


Sample = Callable[[int, int], tuple[np.ndarray, int]]
"""Positions ``[start, stop)`` of the unit order -> their summed losses and correct count."""


class UnitSample:
    """Stein's two-stage rule over units in one fixed random order, with reference points.

    Args:
        sizes: ``m_i`` of each unit, in the sampled order.
        tolerance: the largest 95% half-width of a point's mean loss.
        pilot: ``n0``, the units of the first stage.
    """

    def __init__(self, sizes: np.ndarray, *, tolerance: float, pilot: int):
        self.sizes = np.asarray(sizes, dtype=np.float64)
        self.total = len(self.sizes)
        self.population = int(self.sizes.sum())
        self.tolerance = tolerance
        self.pilot = min(pilot, self.total)
        self.references = np.empty((self.total, 0))
        self.reference_means = np.empty(0)
        self._cumulative = np.zeros((self.total + 1, 0))  # sum_{i < n} C_ij at row n

    def add_reference(self, sums: np.ndarray) -> None:
        """Add a reference point's summed loss on every unit (in the sampled order).

        Its ``L_C`` is their sum over the population, the mean of the same values as sampled.
        The first one's sets the pilot's least size: :func:`skew_rule` of its
        ``C_i - R_C m_i`` over the population.
        """
        if not self.references.shape[1]:  # the first: Cochran's rule on its skewness
            centered = sums - sums.sum() / self.population * self.sizes
            self.pilot = min(self.total, max(self.pilot, skew_rule(centered)))
        self.references = np.column_stack([self.references, sums])
        self._cumulative = np.vstack(
            [np.zeros(self.references.shape[1]), np.cumsum(self.references, axis=0)]
        )
        self.reference_means = self._cumulative[-1] / self.population

    def estimate(
        self, sample: Sample, full: Callable[[], PointValues], *, with_correct: bool
    ) -> PointValues:
        """The current point's values: ``sample`` gives its units, ``full`` its full-data values.

        ``full`` is called (and nothing more sampled) when the rule needs every unit.
        """
        n0, q = self.pilot, self.references.shape[1]
        if n0 >= self.total or n0 - 1 - q <= 0:  # no room for a second stage
            return full()
        sums, correct = sample(0, n0)
        if not math.isfinite(float(sums.sum())):  # the full loss is not finite either
            return full()
        refs = self.references[:n0] if q else None
        slopes, residual, df = regression_residuals(sums, self.sizes[:n0], refs)
        variance = residual_variance(residual, self.sizes[:n0], df)
        need = max(n0, units_needed(variance, df, self.tolerance, self.total), skew_rule(residual))
        if need >= self.total:
            return full()
        more, more_correct = sample(n0, need)
        size = float(self.sizes[:need].sum())
        total = float(sums.sum() + more.sum())
        loss = regression_estimate(
            total, size, slopes, self._cumulative[need], self.reference_means
        )
        right = correct + more_correct if with_correct else None
        return sampled_values(
            loss,
            variance,
            df,
            used=need,
            total=self.total,
            rows_used=int(size),
            correct=right,
            population=self.population,
        )
