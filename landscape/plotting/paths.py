"""Optimizer paths on a shared plane, coloured by the curvature at their checkpoints.

Pure functions (numpy and matplotlib only): :func:`plot_paths` draws every run's path on
one plane (a PCA plane of all checkpoints, say), :func:`path_norm` is its colour scale,
:func:`plot_background_contours` the loss under it.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm, Normalize
from matplotlib.lines import Line2D

from landscape.errors import LandscapeError
from landscape.plotting.compare import legend_above, span_log
from landscape.plotting.labels import label_contours
from landscape.plotting.limits import clip_outliers
from landscape.plotting.style import CMAP, style_context
from landscape.plotting.surface import contour_levels, use_log, value_range

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
"""End-point markers of the runs, in order."""


def plot_paths(
    ax: Axes,
    coords: Mapping[str, np.ndarray],
    values: Mapping[str, np.ndarray],
    *,
    label: str = "λ_max",
    axis_labels: tuple[str, str] = ("direction 1 (PCA)", "direction 2 (PCA)"),
    groups: Mapping[str, str] | None = None,
    norm: Normalize | None = None,
    colorbar: bool = True,
) -> Axes:
    """Paths on a shared plane, each segment coloured by the curvature at its checkpoints.

    One colour scale (log when the values span a decade) serves every run;
    runs are told apart by the marker at their end point (the runs of one group, e.g. the
    seeds of one optimizer, share a marker and a legend entry), the common start is a
    cross. Segments between checkpoints without a value are grey. When a few checkpoints
    lie far from all the others (one run dominating the spread), the axes leave them out
    and mark them on their edge (:func:`~landscape.plotting.limits.clip_outliers`), so the
    other paths stay legible.

    Args:
        ax: the axes to draw on.
        coords: run label -> ``(k, 2)`` plane coordinates of its checkpoints in order.
        values: run label -> ``(k,)`` value at each checkpoint (NaN: not measured).
        label: colour-bar label.
        axis_labels: labels of the plane's axes.
        groups: run label -> group label (default: each run its own group).
        norm: the colour scale (default :func:`path_norm` of ``values``), to share one
            scale between panels.
        colorbar: draw a colour bar beside ``ax``.

    Returns:
        ``ax``.

    Raises:
        LandscapeError: for coordinates that are not ``(k, 2)`` or values of another length.

    """
    for k, c in coords.items():
        if np.ndim(c) != 2 or np.shape(c)[1] != 2 or np.shape(values.get(k)) != (len(c),):
            raise LandscapeError(
                f"{k}: expected (k, 2) coordinates and (k,) values "
                f"(got {np.shape(c)}, {np.shape(values.get(k))})"
            )
    norm = norm or path_norm(values)
    group = {k: (groups or {}).get(k, k) for k in coords}
    marker_of = {g: MARKERS[i % len(MARKERS)] for i, g in enumerate(dict.fromkeys(group.values()))}
    handles: dict[str, Line2D] = {}
    with style_context():
        for k, c in coords.items():
            v = np.asarray(values[k], dtype=np.float64)
            seg_v = (v[:-1] + v[1:]) / 2
            seg_v = np.where(np.isfinite(seg_v), seg_v, np.where(np.isfinite(v[1:]), v[1:], v[:-1]))
            segs = np.stack([c[:-1], c[1:]], axis=1)
            ok = np.isfinite(seg_v)
            if (~ok).any():
                ax.add_collection(LineCollection(segs[~ok], colors="0.6", linewidths=1.0))
            if ok.any() and norm is not None:
                ax.add_collection(
                    LineCollection(segs[ok], cmap=CMAP, norm=norm, array=seg_v[ok], linewidths=1.6)
                )
            m = marker_of[group[k]]
            color = "0.6" if norm is None or not np.isfinite(v[-1]) else _color(norm, v[-1])
            ax.plot(
                *c[-1],
                marker=m,
                markersize=5,
                markerfacecolor=color,
                markeredgecolor="black",
                linestyle="none",
            )
            handles.setdefault(
                group[k],
                Line2D(
                    [],
                    [],
                    marker=m,
                    color="black",
                    markerfacecolor="white",
                    linestyle="none",
                    label=group[k],
                ),
            )
        starts = np.array([c[0] for c in coords.values()])
        if len(starts):
            ax.plot(
                starts[:, 0],
                starts[:, 1],
                marker="x",
                color="black",
                linestyle="none",
                markersize=4,
            )
            handles["start"] = Line2D(
                [], [], marker="x", color="black", linestyle="none", label="start"
            )
        ax.autoscale_view()
        for axis, along, across in (("x", 1, 0), ("y", 0, 1)):
            points = [
                (c[:, along], c[:, across], "black") for c in map(np.asarray, coords.values())
            ]
            clip_outliers(ax, points, axis=axis)
        ax.set_xlabel(axis_labels[0])
        ax.set_ylabel(axis_labels[1])
        legend_above(ax, list(handles.values()))
        if norm is not None and colorbar:
            ax.figure.colorbar(ScalarMappable(norm=norm, cmap=CMAP), ax=ax, label=label)
    return ax


def path_norm(values: Mapping[str, np.ndarray]) -> Normalize | None:
    """The colour scale of :func:`plot_paths`: log when the values span a decade.

    ``None`` without a finite value.

    >>> path_norm({"a": np.array([1.0, 100.0])}).__class__.__name__
    'LogNorm'
    """
    allv = np.concatenate([np.ravel(v) for v in values.values()]) if values else np.zeros(0)
    finite = allv[np.isfinite(allv)]
    if not finite.size:
        return None
    log = use_log(finite, None) if np.all(finite > 0) else False
    low, high = value_range(finite, None, None, log=log)
    return LogNorm(low, high) if log else Normalize(low, high)


def _color(norm: Normalize, value: float) -> tuple[float, float, float, float]:
    return tuple(mpl.colormaps[CMAP](float(norm(value))))  # type: ignore[return-value]


def plot_background_contours(
    ax: Axes, x: np.ndarray, y: np.ndarray, z: np.ndarray, *, levels: int = 10
) -> Axes:
    """Light grey, labelled contour lines of ``z[iy, ix]`` to draw other data on top of.

    Levels are log-spaced when the values are positive and span a decade or
    more; NaN points are left blank.

    Returns:
        ``ax``.

    Raises:
        LandscapeError: if ``z`` is not ``(len(y), len(x))``.

    """
    if np.shape(z) != (len(y), len(x)):
        raise LandscapeError(
            f"contours: expected z of shape {(len(y), len(x))} (got {np.shape(z)})"
        )
    log = span_log([z])
    low, high = value_range(z, None, None, log=log)
    with style_context():
        cs = ax.contour(
            x,
            y,
            np.ma.masked_invalid(z),
            levels=contour_levels(low, high, levels, log=log),
            colors="0.7",
            linewidths=0.5,
            zorder=0,
        )
        ax.set_xlim(float(np.min(x)), float(np.max(x)))
        ax.set_ylim(float(np.min(y)), float(np.max(y)))
        label_contours(ax, cs, cs.levels, fmt=lambda v: f"{v:.3g}", fontsize=5)
    return ax
