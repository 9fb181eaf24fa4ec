"""Figures that compare several training runs (numpy and matplotlib only).

Pure functions: arrays keyed by run label and an ``Axes`` in, the ``Axes``
out. Runs keep one Okabe-Ito colour (in the order given) across every panel
of a report, so a run is recognized at a glance.

- :func:`plot_loss_curves`: loss per epoch of every run, with the target level;
- :func:`plot_stability`: sharpness over the optimizer's stability threshold;
- :func:`plot_profiles`: 1D filter-normalized loss profiles overlaid;
- :func:`plot_surface_pair`: two 2D surfaces side by side on one colour scale.

Paths on the shared plane are drawn by :mod:`landscape.plotting.paths`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from landscape.errors import LandscapeError
from landscape.plotting.limits import clip_outliers
from landscape.plotting.style import COLORS, direction_label, metric_label, style_context
from landscape.plotting.surface import plot_contour, use_log, value_range


def run_colors(labels: Sequence[str]) -> dict[str, str]:
    """One palette colour per run label, in order (cycling after eight).

    >>> run_colors(["SGD", "Adam"])
    {'SGD': '#0072B2', 'Adam': '#D55E00'}
    """
    return {label: COLORS[i % len(COLORS)] for i, label in enumerate(labels)}


def _check(x: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray]) -> None:
    for k, v in y.items():
        if k not in x or np.shape(x[k]) != np.shape(v):
            raise LandscapeError(
                f"{k}: expected x and y of the same shape "
                f"(got {np.shape(x.get(k))} and {np.shape(v)})"
            )


def _run_lines(
    ax: Axes,
    x: Mapping[str, np.ndarray],
    ys: Mapping[str, np.ndarray],
    colors: Mapping[str, str] | None,
    *,
    positive: bool = False,
    **style: object,
) -> None:
    """One line per run in its colour, labelled by the run (inside :func:`style_context`).

    ``positive``: only the finite values above 0 (for a log axis), and no line for a
    run without any.

    Raises:
        LandscapeError: if a run's ``x`` and ``y`` differ in shape.

    """
    _check(x, ys)
    colors = colors or run_colors(list(ys))
    for k, y in ys.items():
        v, xs = np.asarray(y), np.asarray(x[k])
        ok = np.isfinite(v) & (v > 0) if positive else np.ones(v.shape, dtype=bool)
        if ok.any() or not positive:
            ax.plot(xs[ok], v[ok], color=colors[k], label=k, **style)


def _epoch_panel(
    ax: Axes,
    epochs: Mapping[str, np.ndarray],
    values: Mapping[str, np.ndarray],
    colors: Mapping[str, str] | None,
    *,
    level: tuple[float | None, str, str],
    log: bool,
    ylabel: str,
    legend: bool = True,
    positive: bool = False,
    **style: object,
) -> Axes:
    """One line per run over epochs with a reference level, outliers clipped and marked.

    Args:
        ax: the axes to draw on.
        epochs: run label -> epochs.
        values: run label -> values at those epochs.
        colors: run label -> colour (default :func:`run_colors`).
        level: ``(value, line style, legend label)`` of the horizontal reference line
            (value ``None``: no line); the y range always shows it.
        log: log-scaled y axis.
        ylabel: y-axis label.
        legend: draw a legend above the axes.
        positive: draw only the finite values above 0 (joining the line over the others).
        style: line style of the runs.

    Returns:
        ``ax``, its y range robust to outliers (:func:`~landscape.plotting.limits.clip_outliers`).

    """
    colors = colors or run_colors(list(values))
    value, linestyle, name = level
    with style_context():
        _run_lines(ax, epochs, values, colors, positive=positive, **style)
        if value is not None:
            ax.axhline(value, color="0.3", linestyle=linestyle, linewidth=0.8, label=name)
        if log:
            ax.set_yscale("log")
        clip_outliers(
            ax,
            [(epochs[k], v, colors[k]) for k, v in values.items()],
            include=() if value is None else (value,),
        )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        if legend:
            legend_above(ax)
    return ax


def span_log(values: Sequence[np.ndarray]) -> bool:
    """Whether the finite values are all positive and span a decade or more (a log axis).

    >>> span_log([np.array([1.0, 20.0])]), span_log([np.array([1.0, 2.0, np.nan])])
    (True, False)
    """
    finite = np.concatenate([np.ravel(v) for v in values]) if values else np.zeros(0)
    finite = finite[np.isfinite(finite)]
    return bool(finite.size and np.all(finite > 0) and finite.max() / finite.min() >= 10)


def legend_above(ax: Axes, handles: list[Line2D] | None = None) -> None:
    """Put the legend above the axes, clear of the data: 3 columns on wide figures, else 2."""
    ncols = 3 if ax.figure.get_size_inches()[0] > 4 else 2
    ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=ncols,
        borderaxespad=0.2,
    )


def plot_loss_curves(
    ax: Axes,
    epochs: Mapping[str, np.ndarray],
    losses: Mapping[str, np.ndarray],
    *,
    target: float | None = None,
    ylabel: str = "loss",
    colors: Mapping[str, str] | None = None,
    legend: bool = True,
) -> Axes:
    """Loss per epoch of every run, with the target level as a dotted line.

    The y axis is logarithmic when the losses span a decade or more.

    Args:
        ax: the axes to draw on.
        epochs: run label -> epochs.
        losses: run label -> loss at those epochs (NaN points are skipped).
        target: the loss level of the convergence-speed measure.
        ylabel: y-axis label.
        colors: run label -> colour (default :func:`run_colors`).
        legend: draw a legend.

    Returns:
        ``ax``.

    Raises:
        LandscapeError: if a run's epochs and losses differ in shape.

    """
    level = target if target is not None and np.isfinite(target) else None
    return _epoch_panel(
        ax,
        epochs,
        losses,
        colors,
        level=(level, ":", "target"),
        log=span_log(list(losses.values())),
        ylabel=ylabel,
        legend=legend,
    )


def plot_stability(
    ax: Axes,
    epochs: Mapping[str, np.ndarray],
    ratios: Mapping[str, np.ndarray],
    *,
    colors: Mapping[str, str] | None = None,
    legend: bool = True,
) -> Axes:
    """Sharpness over the stability threshold per run; 1 (dashed) is the edge of stability.

    Args:
        ax: the axes to draw on.
        epochs: run label -> (fractional) epochs of the measurements.
        ratios: run label -> sharpness / threshold (``λ_max·η/2`` for plain SGD).
        colors: run label -> colour.
        legend: draw a legend.

    Returns:
        ``ax`` (log-scaled y axis).

    Raises:
        LandscapeError: if a run's epochs and ratios differ in shape.

    """
    return _epoch_panel(
        ax,
        epochs,
        ratios,
        colors,
        level=(1.0, "--", "stability threshold"),
        log=True,
        ylabel="sharpness / threshold",
        legend=legend,
        positive=True,
        marker="o",
        markersize=2,
    )


def plot_profiles(
    ax: Axes,
    x: Mapping[str, np.ndarray],
    losses: Mapping[str, np.ndarray],
    *,
    colors: Mapping[str, str] | None = None,
    xlabel: str = "α (filter-normalized step)",
    legend: bool = True,
) -> Axes:
    """1D loss profiles around each run's final point, overlaid.

    Args:
        ax: the axes to draw on.
        x: run label -> step sizes ``α`` along the run's random direction.
        losses: run label -> training loss at ``w_T + α d``.
        colors: run label -> colour.
        xlabel: x-axis label.
        legend: draw a legend.

    Returns:
        ``ax`` (log-scaled y axis when the losses span a decade).

    Raises:
        LandscapeError: if a run's ``x`` and losses differ in shape.

    """
    with style_context():
        _run_lines(ax, x, losses, colors)
        if span_log(list(losses.values())):
            ax.set_yscale("log")
        ax.axvline(0.0, color="0.6", linewidth=0.5)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric_label("train_loss"))
        if legend:
            legend_above(ax)
    return ax


def plot_surface_pair(
    axes: Sequence[Axes],
    surfaces: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    titles: Sequence[str],
    *,
    label: str = "train loss",
    log: bool | None = None,
) -> Sequence[Axes]:
    """Two (or more) 2D surfaces side by side, filled contours on one colour scale and level set.

    Args:
        axes: one ``Axes`` per surface.
        surfaces: ``(x, y, z)`` with ``z`` of shape ``(ny, nx)`` per surface.
        titles: a title per surface.
        label: colour-bar label (one bar, on the last axes).
        log: log scale (``None``: when the values span two decades).

    Returns:
        ``axes``.

    Raises:
        LandscapeError: if the numbers of axes, surfaces and titles differ.

    """
    if not (len(axes) == len(surfaces) == len(titles)) or not surfaces:
        raise LandscapeError(
            "surface pair: expected as many axes as surfaces and titles "
            f"(got {len(axes)}, {len(surfaces)}, {len(titles)})"
        )
    allz = np.concatenate([np.ravel(z) for _, _, z in surfaces])
    log = use_log(allz, log)
    low, high = value_range(allz, None, None, log=log)
    with style_context():
        for i, (ax, (x, y, z), title) in enumerate(zip(axes, surfaces, titles, strict=True)):
            plot_contour(
                ax,
                x,
                y,
                z,
                filled=True,
                log=log,
                vmin=low,
                vmax=high,
                label=label,
                colorbar=i == len(axes) - 1,
            )
            ax.set_title(title)
            ax.set_xlabel(direction_label(1))
            ax.set_ylabel(direction_label(2) if i == 0 else "")
            ax.set_aspect("equal", adjustable="box")
            for axis in (ax.xaxis, ax.yaxis):  # few enough ticks that their labels never touch
                axis.set_major_locator(MaxNLocator(nbins=4))
    return axes
