"""Colour scales and contour levels of surface figures: log or linear, round levels.

A scale is logarithmic when asked for, or (``log=None``) when every value is
positive and ``max / min >= 100``; levels are round values (``1, 2, 5 x 10^k``
on a log scale) and their labels carry the fewest digits that tell them apart.
Pure numpy; no figure is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np
from matplotlib.ticker import MaxNLocator

from landscape.errors import LandscapeError

AUTO_LOG_RATIO = 100.0
"""``log=None`` switches to a log scale when ``max / min`` reaches this."""
DEFAULT_LEVELS = 15
"""Number of contour levels when none are given."""
_LOG_MANTISSAS = (
    (1.0,),
    (1.0, 3.0),
    (1.0, 2.0, 5.0),
    (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
    tuple(range(1, 10)),
)

Levels = int | Sequence[float] | None


class ScaleOptions(TypedDict, total=False):
    """The metric and colour scale of a surface figure (``landscape plot`` passes those given).

    Attributes:
        metric: surface metric to draw (default ``train_loss``).
        log: log colour scale (default: automatic, see :func:`use_log`).
        vmin: lower end of the colour range.
        vmax: upper end of the colour range.

    """

    metric: str | None
    log: bool | None
    vmin: float | None
    vmax: float | None


class ContourOptions(ScaleOptions, total=False):
    """:class:`ScaleOptions` and the contour levels.

    Attributes:
        levels: contour level count or values.

    """

    levels: Levels


def use_log(z: np.ndarray, log: bool | None) -> bool:
    """Decide the scale: ``log`` if given, else log when values span two decades.

    Raises:
        LandscapeError: if a log scale is asked for values that are not all positive.

    >>> use_log(np.array([0.1, 50.0]), None), use_log(np.array([1.0, 2.0]), None)
    (True, False)

    """
    finite = z[np.isfinite(z)]
    positive = finite.size > 0 and bool(np.all(finite > 0))
    if log is None:
        return positive and bool(finite.max() / finite.min() >= AUTO_LOG_RATIO)
    if log and not positive:
        low = finite.min() if finite.size else float("nan")
        raise LandscapeError(
            f"log scale: expected positive values (the smallest is {low:.4g}); leave out --log"
        )
    return log


def value_range(
    z: np.ndarray, vmin: float | None, vmax: float | None, *, log: bool
) -> tuple[float, float]:
    """Find the colour range: the finite data's range unless ``vmin``/``vmax`` are given.

    A constant surface gets a range around its value so it still draws.

    Raises:
        LandscapeError: if nothing is computed, ``vmin >= vmax``, or a log
            range is not positive.

    >>> value_range(np.array([[1.0, np.nan], [3.0, 2.0]]), None, 2.5, log=False)
    (1.0, 2.5)

    """
    finite = z[np.isfinite(z)]
    if finite.size == 0 and (vmin is None or vmax is None):
        what = "NaN" if np.isnan(z).all() else "NaN or infinite"
        raise LandscapeError(
            f"no computed points to draw (every value is {what}); finish the surface first "
            "or check the loss for overflow"
        )
    low = float(finite.min()) if vmin is None else float(vmin)
    high = float(finite.max()) if vmax is None else float(vmax)
    if vmin is None and vmax is None and low == high:
        low, high = (low / 2, high * 2) if log else (low - 0.5, high + 0.5)
    if not low < high:
        raise LandscapeError(
            f"value range: expected vmin < vmax (got vmin={low:.4g}, vmax={high:.4g})"
        )
    if log and low <= 0:
        raise LandscapeError(f"log scale: expected vmin > 0 (got {low:.4g})")
    return low, high


def contour_levels(
    vmin: float, vmax: float, levels: Levels = None, *, log: bool = False
) -> np.ndarray:
    """Contour levels between ``vmin`` and ``vmax``, at round values where possible.

    An explicit sequence is used as given (sorted). A count ``n`` gives about
    ``n`` round linear levels, or on a log scale round values ``m * 10^k``
    with mantissas ``m`` from the sparsest of the sets 1 / 1,3 / 1,2,5 /
    1,1.5,2,3,5,7 / 1..9 that yields ``n`` levels inside the range (``n``
    log-spaced values if none yields two). Round levels extend one step past
    ``vmin`` and ``vmax`` when those are not round, so filled contours cover
    the whole range.

    Raises:
        LandscapeError: for fewer than one level, or non-positive log levels.

    >>> contour_levels(1.0, 100.0, 3, log=True).tolist()
    [1.0, 10.0, 100.0]
    >>> contour_levels(0.0, 1.0, 5).tolist()
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]

    """
    if levels is None:
        levels = DEFAULT_LEVELS
    if isinstance(levels, int):
        if levels < 1:
            raise LandscapeError(
                f"levels: expected a positive count or a list of values (got {levels})"
            )
        return _log_levels(vmin, vmax, levels) if log else _linear_levels(vmin, vmax, levels)
    out = np.unique(np.asarray(levels, dtype=np.float64))
    if out.size == 0:
        raise LandscapeError("levels: expected at least one value")
    if log and out[0] <= 0:
        raise LandscapeError(f"levels: a log scale needs positive levels (got {out[0]:.4g})")
    return out


def _inside(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    tol = 1e-9 * max(abs(vmin), abs(vmax))
    return values[(values >= vmin - tol) & (values <= vmax + tol)]


def _linear_levels(vmin: float, vmax: float, n: int) -> np.ndarray:
    ticks = MaxNLocator(nbins=n).tick_values(vmin, vmax)  # round values that bracket the range
    return np.array([float(f"{v:.12g}") for v in ticks])


def _log_levels(vmin: float, vmax: float, n: int) -> np.ndarray:
    decades = np.arange(np.floor(np.log10(vmin)) - 1, np.ceil(np.log10(vmax)) + 2)
    for mantissas in _LOG_MANTISSAS:
        candidates = np.unique(
            [float(f"{v:.6g}") for v in np.outer(10.0**decades, mantissas).ravel()]
        )
        inside = _inside(candidates, vmin, vmax)
        if len(inside) >= n:
            break
    if len(inside) < 2:
        return np.geomspace(vmin, vmax, n)
    below = candidates[candidates < inside[0]][-1:] if inside[0] > vmin * (1 + 1e-9) else []
    above = candidates[candidates > inside[-1]][:1] if inside[-1] < vmax * (1 - 1e-9) else []
    return np.concatenate([below, inside, above])


def format_level(value: float) -> str:
    """Label a contour level with the fewest digits (up to 6) that give it back exactly.

    Round levels keep every digit that tells them apart; others get 4
    significant digits. Exponents only outside ``[1e-4, 1e5)``.

    >>> format_level(1.425), format_level(20.0), format_level(1.0 / 3.0), format_level(2e-6)
    ('1.425', '20', '0.3333', '2e-06')
    """
    fixed = value == 0 or 1e-4 <= abs(value) < 1e5
    for digits in range(7):
        text = f"{value:.{digits}f}" if fixed else f"{value:.{digits + 1}g}"
        if abs(float(text) - value) <= 1e-9 * abs(value):
            return text
    return f"{value:.4g}"
