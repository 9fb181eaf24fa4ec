"""Draw loss surfaces: 1D curves, contour lines, filled contours, 3D surfaces.

The ``plot_*`` functions are pure: arrays and an ``Axes`` in, the ``Axes``
out; they never read or write files. The ``draw_*`` functions are the entry
points of ``landscape plot``: they read a surface file (ours or Li et al.'s,
see :mod:`landscape.io.surface`) and call a ``plot_*`` function.

A 2D metric ``z`` is indexed ``[iy, ix]``: ``z[i, j]`` is the value at
``(x[j], y[i])``. Non-computed points (NaN) are left blank. Losses that span
orders of magnitude are drawn on a log scale (``log=None`` decides: log when
every value is positive and ``max / min >= 100``), with log-spaced contour
levels and a ``LogNorm`` colour scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from landscape.errors import LandscapeError
from landscape.io.surface import read_surface
from landscape.plotting.style import CMAP, COLORS, Width, figure, style_context
from landscape.records import Surface

AUTO_LOG_RATIO = 100.0
"""``log=None`` switches to a log scale when ``max / min`` reaches this."""
DEFAULT_LEVELS = 15
"""Number of contour levels when none are given."""
MAX_LABELLED_LEVELS = 8
"""Contour lines beyond this many get labels on every other level only."""
_LOG_MANTISSAS = (
    (1.0,),
    (1.0, 3.0),
    (1.0, 2.0, 5.0),
    (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
    tuple(range(1, 10)),
)

Levels = int | Sequence[float] | None


def metric_label(name: str) -> str:
    """Human label of a metric dataset name.

    >>> metric_label("test_acc"), metric_label("train_loss")
    ('test accuracy', 'train loss')
    """
    return name.replace("_acc", "_accuracy").replace("_", " ")


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
            f"no finite points to draw (every value is {what}); finish the surface first "
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


def plot_curve(
    ax: Axes,
    x: np.ndarray,
    values: Mapping[str, np.ndarray],
    *,
    log: bool | None = None,
    xlabel: str = "α",
) -> Axes:
    """Draw a 1D profile: losses on ``ax``, accuracies on a twin axis at the right.

    Train metrics are solid, test metrics dashed; loss is blue and accuracy
    vermillion (Okabe-Ito), each axis labelled in its colour.

    Args:
        ax: the axes to draw on.
        x: coordinates, shape ``(nx,)``.
        values: metric name -> values of shape ``(nx,)``; names ending in
            ``acc`` go on the accuracy axis.
        log: log scale for the loss axis (``None``: when losses span two decades).
        xlabel: label of the x axis.

    Returns:
        ``ax``; the accuracy axis, when losses are drawn too, is its
        ``twinx()`` sibling in ``ax.figure.axes``.

    Raises:
        LandscapeError: if a metric's shape differs from ``x``.

    """
    for name, v in values.items():
        if np.shape(v) != np.shape(x):
            raise LandscapeError(f"{name}: expected shape {np.shape(x)} like x (got {np.shape(v)})")
    losses = {k: v for k, v in values.items() if not k.endswith("acc")}
    accs = {k: v for k, v in values.items() if k.endswith("acc")}
    handles: list[Line2D] = []
    with style_context():
        if losses:
            all_losses = np.concatenate([np.ravel(v) for v in losses.values()])
            if use_log(all_losses, log):
                ax.set_yscale("log")
            handles += _lines(ax, x, losses, COLORS[0])
            ax.set_ylabel("loss", color=COLORS[0])
        if accs:
            right = ax.twinx() if losses else ax
            right.spines["right"].set_visible(True)
            handles += _lines(right, x, accs, COLORS[1])
            right.set_ylabel("accuracy", color=COLORS[1])
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_xlim(float(np.min(x)), float(np.max(x)))
        ax.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            ncols=2,
            borderaxespad=0.2,
        )
    return ax


def _lines(ax: Axes, x: np.ndarray, values: Mapping[str, np.ndarray], color: str) -> list[Line2D]:
    return [
        ax.plot(
            x,
            v,
            color=color,
            linestyle="--" if k.startswith("test") else "-",
            label=metric_label(k),
        )[0]
        for k, v in values.items()
    ]


def plot_contour(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    *,
    filled: bool = False,
    log: bool | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    levels: Levels = None,
    label: str = "loss",
    colorbar: bool = True,
) -> Axes:
    """Contour lines with labelled levels, or filled contours, of ``z[iy, ix]``.

    Args:
        ax: the axes to draw on.
        x: column coordinates, shape ``(nx,)``.
        y: row coordinates, shape ``(ny,)``.
        z: values, shape ``(ny, nx)``; NaN points are left blank.
        filled: filled contours (``contourf``) instead of labelled lines.
        log: log-spaced levels and a ``LogNorm`` colour scale (``None``: auto).
        vmin: lower end of the colour range (default: data minimum).
        vmax: upper end of the colour range (default: data maximum); filled
            regions beyond the range get the end colours (``extend``).
        levels: a count or explicit values (default 15).
        label: colour-bar label.
        colorbar: add a colour bar.

    Returns:
        ``ax``.

    Raises:
        LandscapeError: for mismatched shapes or an impossible range/scale.

    """
    _check_grid(x, y, z)
    log = use_log(z, log)
    low, high = value_range(z, vmin, vmax, log=log)
    lv = contour_levels(low, high, levels, log=log)
    norm = LogNorm(low, high) if log else Normalize(low, high)
    zm = np.ma.masked_invalid(z)
    with style_context():
        if filled:
            finite = z[np.isfinite(z)]
            below, above = bool(finite.min() < lv[0]), bool(finite.max() > lv[-1])
            extend = {(False, False): "neither", (True, False): "min", (False, True): "max"}.get(
                (below, above), "both"
            )
            cs = ax.contourf(x, y, zm, levels=lv, cmap=CMAP, norm=norm, extend=extend)
        else:
            cs = ax.contour(x, y, zm, levels=lv, cmap=CMAP, norm=norm, linewidths=0.8)
            shown = cs.levels if len(cs.levels) <= MAX_LABELLED_LEVELS else cs.levels[::2]
            ax.clabel(cs, levels=shown, inline=True, fontsize=6, fmt=format_level)
        if colorbar:
            bar = ax.figure.colorbar(cs, ax=ax, label=label)
            bar.set_ticks(cs.levels if len(cs.levels) <= MAX_LABELLED_LEVELS else cs.levels[::2])
            bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_level(v)))
            bar.minorticks_off()
        ax.set_xlim(float(x.min()), float(x.max()))
        ax.set_ylim(float(y.min()), float(y.max()))
    return ax


def plot_surface_3d(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    *,
    log: bool | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    label: str = "loss",
    colorbar: bool = False,
) -> Axes:
    """Draw a 3D surface of ``z[iy, ix]`` on axes made with ``projection="3d"``.

    Values are clipped to ``[vmin, vmax]`` so a few huge losses at the edge do
    not flatten the basin; on a log scale the height is ``log10(z)``.

    Args:
        ax: 3D axes (``fig.add_subplot(projection="3d")``).
        x: column coordinates, shape ``(nx,)``.
        y: row coordinates, shape ``(ny,)``.
        z: values, shape ``(ny, nx)``; NaN points are left blank.
        log: draw ``log10(z)`` (``None``: auto).
        vmin: lower clip (default: data minimum).
        vmax: upper clip (default: data maximum).
        label: z-axis (and colour-bar) label.
        colorbar: add a colour bar (off by default: the z axis carries the values).

    Returns:
        ``ax``.

    Raises:
        LandscapeError: if ``ax`` is not 3D, for mismatched shapes or an
            impossible range/scale.

    """
    if getattr(ax, "name", "") != "3d":
        raise LandscapeError("3D surface: expected axes made with projection='3d'")
    _check_grid(x, y, z)
    log = use_log(z, log)
    low, high = value_range(z, vmin, vmax, log=log)
    height = np.clip(z, low, high)
    if log:
        height, low, high, label = np.log10(height), np.log10(low), np.log10(high), f"log10 {label}"
    xx, yy = np.meshgrid(x, y)
    with style_context():
        surf = ax.plot_surface(
            xx,
            yy,
            np.ma.masked_invalid(height),
            cmap=CMAP,
            vmin=low,
            vmax=high,
            linewidth=0,
            antialiased=False,
        )
        ax.set_zlim(low, high)
        ax.set_zlabel(label)
        ax.set_box_aspect(None, zoom=0.85)  # room for the axis labels inside the figure
        if colorbar:
            ax.figure.colorbar(surf, ax=ax, label=label, shrink=0.6, pad=0.12)
    return ax


def _check_grid(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
    expected = (len(y), len(x))
    if np.shape(z) != expected:
        raise LandscapeError(
            f"surface: expected z of shape (ny, nx) = {expected} (got {np.shape(z)})"
        )


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


def axis_labels(surface: Surface, *, short: bool = False) -> tuple[str, str]:
    """Axis labels from how the directions were made (``directions/`` attributes).

    ``short`` drops the explanation in parentheses (for cramped 3D axes).

    >>> s = Surface(np.zeros(2), np.zeros(2), {}, np.zeros((2, 2), bool),
    ...             directions={"kind": "random", "norm": "filter"})
    >>> axis_labels(s)
    ('direction 1 (random, filter-normalized)', 'direction 2 (random, filter-normalized)')
    >>> axis_labels(s, short=True)
    ('direction 1', 'direction 2')
    """
    labels = _axis_labels(surface)
    return (labels[0].split(" (")[0], labels[1].split(" (")[0]) if short else labels


def _axis_labels(surface: Surface) -> tuple[str, str]:
    kind = surface.directions.get("kind")
    norm = surface.directions.get("norm")
    if kind == "interp":
        return "α (0: first checkpoint, 1: second)", ""
    if kind == "plane":
        return "α (plane through three checkpoints)", "β"
    if kind == "pca":
        return "PCA direction 1", "PCA direction 2"
    if kind == "hessian":
        return "Hessian eigenvector 1", "Hessian eigenvector 2"
    detail = ", ".join(
        str(p) for p in (kind, f"{norm}-normalized" if norm and norm != "none" else None) if p
    )
    suffix = f" ({detail})" if detail else ""
    return f"direction 1{suffix}", f"direction 2{suffix}"


def _require_2d(surface: Surface, kind: str) -> np.ndarray:
    if surface.y is None:
        raise LandscapeError(
            f"--kind {kind} needs a 2D surface; {surface.path} holds a 1D one (use --kind 1d)"
        )
    return surface.y


def _progress_title(ax: Axes, surface: Surface) -> None:
    done, total = int(surface.done.sum()), surface.done.size
    if done < total:
        ax.set_title(f"{done} of {total} points computed", loc="left")


def _setup_2d(ax: Axes, surface: Surface) -> None:
    xlabel, ylabel = axis_labels(surface, short=getattr(ax, "name", "") == "3d")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _progress_title(ax, surface)


def draw_1d(
    path: str | Path, ax: Axes, *, metric: str | None = None, log: bool | None = None
) -> Axes:
    """``landscape plot --kind 1d``: every metric of a 1D surface file (or one ``metric``)."""
    surface = read_surface(path)
    if surface.y is not None:
        raise LandscapeError(
            f"--kind 1d needs a 1D surface; {surface.path} holds a 2D one (use --kind contour)"
        )
    values = surface.values if metric is None else dict([surface.metric(metric)])
    plot_curve(ax, surface.x, values, log=log, xlabel=axis_labels(surface)[0])
    with style_context():
        _progress_title(ax, surface)
    return ax


def _draw_2d(path: str | Path, ax: Axes, kind: str, filled: bool, options: dict[str, Any]) -> Axes:
    surface = read_surface(path)
    y = _require_2d(surface, kind)
    name, z = surface.metric(options.pop("metric"))
    plot_contour(ax, surface.x, y, z, filled=filled, label=metric_label(name), **options)
    with style_context():
        _setup_2d(ax, surface)
        if centred_on_checkpoint(surface):
            ax.plot([0.0], [0.0], marker="+", color="black", markersize=6, linestyle="none")
    return ax


def centred_on_checkpoint(surface: Surface) -> bool:
    """Whether ``(0, 0)`` is the checkpoint and inside the grid (marked ``+`` on contours).

    True for directions taken around one checkpoint (random, PCA, Hessian,
    from a file, or a Li et al. file), false for planes through several.
    """
    if surface.y is None or surface.directions.get("kind") in ("interp", "plane"):
        return False
    return bool(surface.x.min() <= 0 <= surface.x.max() and surface.y.min() <= 0 <= surface.y.max())


def draw_contour(
    path: str | Path,
    ax: Axes,
    *,
    metric: str | None = None,
    log: bool | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    levels: Levels = None,
) -> Axes:
    """``landscape plot --kind contour``: labelled contour lines of one metric."""
    return _draw_2d(
        path,
        ax,
        "contour",
        False,
        dict(metric=metric, log=log, vmin=vmin, vmax=vmax, levels=levels),
    )


def draw_filled(
    path: str | Path,
    ax: Axes,
    *,
    metric: str | None = None,
    log: bool | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    levels: Levels = None,
) -> Axes:
    """``landscape plot --kind filled``: filled contours of one metric."""
    return _draw_2d(
        path, ax, "filled", True, dict(metric=metric, log=log, vmin=vmin, vmax=vmax, levels=levels)
    )


def draw_3d(
    path: str | Path,
    *,
    metric: str | None = None,
    log: bool | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    width: Width = "single",
) -> Figure:
    """``landscape plot --kind 3d``: a 3D surface of one metric, on its own figure."""
    surface = read_surface(path)
    y = _require_2d(surface, "3d")
    name, z = surface.metric(metric)
    fig, ax = figure(width, projection="3d")
    plot_surface_3d(ax, surface.x, y, z, log=log, vmin=vmin, vmax=vmax, label=metric_label(name))
    with style_context():
        _setup_2d(ax, surface)
    return fig
