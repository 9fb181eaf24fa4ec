"""Draw loss surfaces: 1D curves, contour lines, filled contours, 3D surfaces.

The ``plot_*`` functions are pure: arrays and an ``Axes`` in, the ``Axes``
out; they never read or write files. The ``draw_*`` functions are the entry
points of ``landscape plot``: they read a surface file (ours or Li et al.'s,
see :mod:`landscape.io.surface`) and call a ``plot_*`` function.

A 2D metric ``z`` is indexed ``[iy, ix]``: ``z[i, j]`` is the value at
``(x[j], y[i])``. Non-computed points (NaN) are left blank. Losses that span
orders of magnitude are drawn on a log scale (``log=None`` decides: log when
every value is positive and ``max / min >= 100``), with log-spaced contour
levels and a ``LogNorm`` colour scale (scales and levels:
:mod:`landscape.plotting.levels`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from landscape.errors import LandscapeError
from landscape.io.surface import read_surface
from landscape.plotting.labels import label_contours
from landscape.plotting.levels import (
    ContourOptions,
    Levels,
    contour_levels,
    format_level,
    use_log,
    value_range,
)
from landscape.plotting.style import (
    CMAP,
    COLORS,
    Width,
    figure,
    metric_label,
    style_context,
)
from landscape.plotting.surface_notes import (
    axis_labels,
    centred_on_checkpoint,
    mark_checkpoints,
    progress_note,
)
from landscape.records import Surface

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "Levels",
    "axis_labels",
    "centred_on_checkpoint",
    "contour_levels",
    "draw_1d",
    "draw_3d",
    "draw_contour",
    "draw_filled",
    "format_level",
    "metric_label",
    "plot_contour",
    "plot_curve",
    "plot_surface_3d",
    "use_log",
    "value_range",
]

MAX_LABELLED_LEVELS = 8
"""Contour lines beyond this many get labels on every other level only."""
WIDE_3D = 2.0
"""Figures at least this many times wider than high get a stretched 3D box."""


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
        if colorbar:
            bar = ax.figure.colorbar(cs, ax=ax, label=label)
            bar.set_ticks(cs.levels if len(cs.levels) <= MAX_LABELLED_LEVELS else cs.levels[::2])
            bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_level(v)))
            bar.minorticks_off()
        ax.set_xlim(float(x.min()), float(x.max()))
        ax.set_ylim(float(y.min()), float(y.max()))
        if not filled:
            shown = cs.levels if len(cs.levels) <= MAX_LABELLED_LEVELS else cs.levels[::2]
            label_contours(ax, cs, shown, fmt=format_level, fontsize=6)
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
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.set_major_locator(MaxNLocator(nbins=4))
        # 3D axes are square; in a wide figure (a double column) the box is stretched
        # along x and zoomed past the square, so the surface fills the width
        width, height = ax.figure.get_size_inches()
        if width / height >= WIDE_3D:
            ax.set_box_aspect((1.5 * width / height, 1.0, 0.75), zoom=1.3)
        else:
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


def _require_2d(surface: Surface, kind: str) -> np.ndarray:
    if surface.y is None:
        raise LandscapeError(
            f"--kind {kind} needs a 2D surface; {surface.path} holds a 1D one (use --kind 1d)"
        )
    return surface.y


def _setup_2d(ax: Axes, surface: Surface, name: str) -> None:
    xlabel, ylabel = axis_labels(surface, short=getattr(ax, "name", "") == "3d")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    note = progress_note(surface, [name])
    if note:
        ax.set_title(note, loc="left")


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
    note = progress_note(surface, list(values))
    if note:  # above the legend's entries (the legend sits where a title would)
        with style_context():
            ax.get_legend().set_title(note, prop={"size": 7})
    return ax


def _draw_2d(path: str | Path, ax: Axes, kind: str, filled: bool, options: ContourOptions) -> Axes:
    surface = read_surface(path)
    y = _require_2d(surface, kind)
    style = dict(options)
    name, z = surface.metric(style.pop("metric", None))
    plot_contour(ax, surface.x, y, z, filled=filled, label=metric_label(name), **style)
    with style_context():
        _setup_2d(ax, surface, name)
        mark_checkpoints(ax, surface)
    return ax


def draw_contour(path: str | Path, ax: Axes, **options: Unpack[ContourOptions]) -> Axes:
    """``landscape plot --kind contour``: labelled contour lines of one metric."""
    return _draw_2d(path, ax, "contour", False, options)


def draw_filled(path: str | Path, ax: Axes, **options: Unpack[ContourOptions]) -> Axes:
    """``landscape plot --kind filled``: filled contours of one metric."""
    return _draw_2d(path, ax, "filled", True, options)


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
        _setup_2d(ax, surface, name)
    return fig
