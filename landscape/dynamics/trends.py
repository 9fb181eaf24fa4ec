"""Noise and trends of a recorded curve (numpy and scipy only).

A training curve is a smooth trend plus noise from mini-batches, evaluation samples and,
at the edge of stability, the optimizer's own oscillation. A detector that compares two
points of such a curve reads the noise as a finding; these helpers measure the noise and
test a trend against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


def noise_level(y: np.ndarray) -> float:
    """Robust standard deviation of the noise of a curve, from its first differences.

    For ``y_i = f(i) + e_i`` with a slowly varying ``f`` and independent noise of standard
    deviation ``σ``, the first differences have standard deviation ``σ√2``; their median
    absolute deviation scaled by 1.4826 estimates that robustly, so
    ``σ̂ = 1.4826 · MAD(Δy) / √2``. NaN for fewer than three finite values.

    >>> rng = np.random.default_rng(0)
    >>> y = np.linspace(1.0, 0.5, 4000) + rng.normal(0, 0.1, 4000)
    >>> round(noise_level(y), 2)
    0.1
    """
    y = np.asarray(y, dtype=np.float64)
    y = y[np.isfinite(y)]
    if y.size < 3:
        return math.nan
    d = np.diff(y)
    return float(sps.median_abs_deviation(d, scale="normal") / math.sqrt(2.0))


def smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` values (odd), shrinking at the ends.

    >>> smooth(np.array([0.0, 3.0, 0.0, 3.0, 0.0]), 3).tolist()
    [1.5, 1.0, 2.0, 1.0, 1.5]
    """
    y = np.asarray(y, dtype=np.float64)
    half = max(int(window), 1) // 2
    out = np.empty_like(y)
    for i in range(y.size):
        out[i] = y[max(0, i - half) : i + half + 1].mean()
    return out


@dataclass(frozen=True)
class Trend:
    """An ordinary least-squares slope with one-sided p-values.

    Attributes:
        slope: Change per unit of ``x``.
        stderr: Standard error of the slope.
        p_rise: One-sided p-value of ``slope > 0``.
        p_fall: One-sided p-value of ``slope < 0``.
        n: Points in the fit.
    """

    slope: float
    stderr: float
    p_rise: float
    p_fall: float
    n: int


def trend(x: np.ndarray, y: np.ndarray) -> Trend:
    """Least-squares slope of ``y`` over ``x`` and its one-sided t-tests (n - 2 df).

    With ``t = slope / se``, ``p_rise = P(T > t)`` and ``p_fall = P(T < t)``. A
    perfectly straight line has a zero standard error and p-values 0 or 1.

    >>> tr = trend(np.arange(10.0), 2.0 * np.arange(10.0) + np.sin(np.arange(10.0)))
    >>> round(tr.slope, 2), tr.p_rise < 1e-6, tr.p_fall > 0.99
    (2.01, True, True)
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    if n < 3 or np.ptp(x) == 0.0:
        return Trend(math.nan, math.nan, math.nan, math.nan, n)
    fit = sps.linregress(x, y)
    slope, se = float(fit.slope), float(fit.stderr)
    if se == 0.0:
        rise = 0.0 if slope > 0 else 1.0
        fall = 0.0 if slope < 0 else 1.0
        return Trend(slope, se, rise, fall, n)
    t = slope / se
    return Trend(slope, se, float(sps.t.sf(t, n - 2)), float(sps.t.cdf(t, n - 2)), n)
