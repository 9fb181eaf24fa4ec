"""Axis ranges robust to outliers, with the points they leave out marked on the axis edge.

One value can flatten a whole panel: Adagrad's first effective step ``lr/(√0 + ε)`` is
about 10⁸ times every later one, and an adaptive method's sharpness at its first effective
step can be 10³ times its threshold. :func:`robust_limits` leaves such points out of the
axis range by Tukey's far-out fences (Tukey 1977, *Exploratory Data Analysis*, ch. 2):
with the quartiles ``Q1``, ``Q3`` and ``IQR = Q3 − Q1`` of the values (of their log10 on a
log axis), a value outside ``[Q1 − k·IQR, Q3 + k·IQR]``, ``k =`` :data:`FENCE`, is an
outlier. :func:`clip_outliers` sets that range on an ``Axes``, draws every left-out point as
a triangle on the edge it lies beyond, in its line's colour, and says in the panel how many
points were clipped and how far they reach. Data without outliers keep matplotlib's range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from matplotlib.axes import Axes

FENCE = 3.0
"""Tukey's ``k`` for far-out values."""

PAD = 0.05
"""Margin added on each side of the kept values, as a fraction of their span."""


@dataclass(frozen=True)
class Limits:
    """A y range that leaves outliers out.

    Attributes:
        low: Lower limit.
        high: Upper limit.
    """

    low: float
    high: float

    def above(self, values: np.ndarray) -> np.ndarray:
        """Mask of the finite values above :attr:`high`."""
        v = np.asarray(values, dtype=np.float64)
        return np.isfinite(v) & (v > self.high)

    def below(self, values: np.ndarray) -> np.ndarray:
        """Mask of the finite values below :attr:`low`."""
        v = np.asarray(values, dtype=np.float64)
        return np.isfinite(v) & (v < self.low)


def robust_limits(
    values: np.ndarray | Sequence[float],
    *,
    log: bool = False,
    include: Sequence[float] = (),
    fence: float = FENCE,
) -> Limits | None:
    """The range of every value inside Tukey's fences (plus ``include``), padded.

    Args:
        values: The values drawn (NaN, and on a log axis values ≤ 0, are ignored).
        log: Whether the axis is logarithmic: fences and padding on ``log10`` of the values.
        include: Levels the range must show (a target, a threshold of 1).
        fence: Tukey's ``k``.

    Returns:
        The limits, or ``None`` when no value lies outside the fences (or fewer than four
        values are given): the axis then keeps its automatic range.

    >>> robust_limits([1.0, 1.2, 0.9, 1.1, 1.05]) is None
    True
    >>> lim = robust_limits([2e8, 3.0, 2.0, 1.5, 1.2, 1.1, 1.0], log=True)
    >>> round(lim.low, 3), round(lim.high, 3)
    (0.947, 3.169)
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v) & (v > 0)] if log else v[np.isfinite(v)]
    if v.size < 4:
        return None
    t = np.log10(v) if log else v
    q1, q3 = np.quantile(t, [0.25, 0.75])
    iqr = q3 - q1
    inside = (t >= q1 - fence * iqr) & (t <= q3 + fence * iqr)
    if inside.all():
        return None
    levels = np.asarray(include, dtype=np.float64)
    levels = levels[np.isfinite(levels) & (levels > 0)] if log else levels[np.isfinite(levels)]
    kept = np.concatenate([t[inside], np.log10(levels) if log else levels])
    low, high = float(kept.min()), float(kept.max())
    pad = PAD * (high - low) if high > low else (0.5 if log else PAD * max(abs(low), 1.0))
    low, high = low - pad, high + pad
    return Limits(10.0**low, 10.0**high) if log else Limits(low, high)


def clip_outliers(
    ax: Axes,
    lines: Sequence[tuple[np.ndarray, np.ndarray, object]],
    *,
    include: Sequence[float] = (),
    axis: Literal["x", "y"] = "y",
) -> Limits | None:
    """Set a range on one axis of ``ax`` that leaves outliers out, and mark the points left out.

    Call after drawing and after setting the scale. Each clipped point becomes a triangle
    on the edge it lies beyond (pointing out, in its line's colour, not clipped by the axes)
    and one note in the panel's upper right says how many there are and the most extreme
    value.

    Args:
        ax: The axes the lines are drawn on.
        lines: ``(along, values, colour)`` of each line whose points count: ``values`` on
            the clipped axis, ``along`` their coordinates on the other one.
        include: Levels the range must show.
        axis: The axis to clip.

    Returns:
        The limits set, or ``None`` when nothing was clipped (the range is left alone).

    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> x, y = np.arange(6.0), np.array([50.0, 1.0, 1.1, 0.9, 1.2, 1.0])
    >>> _ = ax.plot(x, y)
    >>> lim = clip_outliers(ax, [(x, y, "C0")])
    >>> ax.get_ylim() == (lim.low, lim.high), ax.texts[0].get_text()
    (True, '1 point above the y axis, up to 50')
    """
    log = (ax.get_yscale() if axis == "y" else ax.get_xscale()) == "log"
    values = [np.asarray(v, dtype=np.float64) for _, v, _ in lines]
    limits = robust_limits(
        np.concatenate(values) if values else np.zeros(0), log=log, include=include
    )
    if limits is None:
        return None
    (ax.set_ylim if axis == "y" else ax.set_xlim)(limits.low, limits.high)
    out: list[float] = []
    for (along, _, color), v in zip(lines, values, strict=True):
        at = np.asarray(along, dtype=np.float64)
        for mask, edge, marker in (
            (limits.above(v), limits.high, "^" if axis == "y" else ">"),
            (limits.below(v), limits.low, "v" if axis == "y" else "<"),
        ):
            if mask.any():
                edges = np.full(int(mask.sum()), edge)
                xy = (at[mask], edges) if axis == "y" else (edges, at[mask])
                ax.plot(
                    *xy,
                    marker=marker,
                    markersize=4,
                    color=color,
                    linestyle="none",
                    clip_on=False,
                    label="_clipped",
                )
                out += v[mask].tolist()
    n = len(out)
    if not n:  # the outliers lie inside the range that ``include`` asks for
        return limits
    high, low = any(v > limits.high for v in out), any(v < limits.low for v in out)
    words = {"y": ("above", "below"), "x": ("right of", "left of")}[axis]
    where = "outside" if high and low else words[0] if high else words[1]
    reach = max(out, key=lambda v: abs(np.log10(v)) if log else abs(v))
    ax.text(
        0.98,
        0.98 if axis == "y" else 0.9,
        f"{n} point{'s' if n != 1 else ''} {where} the {axis} axis, up to {reach:.3g}",
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=5.5,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
    )
    return limits
