"""Optimizer paths over the loss contour of their PCA plane (numpy and matplotlib only).

The contour is the loss *on the plane*; the checkpoints themselves lie off
it (by the stored residual), so the loss under a drawn point is not that
checkpoint's loss. Every figure says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes

from landscape.io.describe import contents
from landscape.io.surface import read_surface
from landscape.io.trajectory import read_trajectory
from landscape.plotting.labels import free_labels
from landscape.plotting.levels import ContourOptions
from landscape.plotting.style import COLORS, direction_label, metric_label, style_context
from landscape.plotting.surface import plot_contour
from landscape.records import Trajectory

if TYPE_CHECKING:
    from typing_extensions import Unpack

NOTE = (
    "contours: loss on the plane, not at the checkpoints\n"
    "(their off-plane residual is up to {:.0%}); numbers: epochs"
)
MAX_EPOCH_LABELS = 5
EPOCH_FONTSIZE = 6
"""Size of the epoch numbers beside the checkpoints, in points."""


def epoch_label_indices(n: int, most: int = MAX_EPOCH_LABELS) -> list[int]:
    """Return at most ``most`` evenly spread indices to label, first and last included.

    >>> epoch_label_indices(11, 3), epoch_label_indices(2, 5)
    ([0, 5, 10], [0, 1])
    """
    if n <= most:
        return list(range(n))
    return sorted({round(float(i)) for i in np.linspace(0, n - 1, most)})


def draw_paths(ax: Axes, traj: Trajectory, *, note: bool = True) -> Axes:
    """Draw every run's path: a marker per checkpoint, start (circle) and end (star), epoch labels.

    Args:
        ax: the axes to draw on.
        traj: the projected checkpoints.
        note: say, above the legend, that the surface is not the checkpoints' loss.

    Returns:
        ``ax``.

    """
    evr = traj.explained_variance_ratio
    with style_context():
        ax.set_xlabel(direction_label(1, f"PCA, {100 * evr[0]:.1f}% of variance"))
        ax.set_ylabel(direction_label(2, f"PCA, {100 * evr[1]:.1f}% of variance"))
        labels: list[tuple[float, float, str, str]] = []
        for r, label in enumerate(traj.labels):
            sel = traj.run == r
            xy, epochs = traj.coords[sel], traj.epochs[sel]
            color = COLORS[r % len(COLORS)]
            ax.plot(
                xy[:, 0], xy[:, 1], "-o", color=color, markersize=2.5, linewidth=1.0, label=label
            )
            ax.plot(
                *xy[0], "o", color=color, markersize=6, markerfacecolor="white", markeredgewidth=1.2
            )
            ax.plot(
                *xy[-1],
                "*",
                color=color,
                markersize=9,
                markeredgecolor="black",
                markeredgewidth=0.4,
            )
            labels += [
                (float(xy[i, 0]), float(xy[i, 1]), str(int(epochs[i])), color)
                for i in epoch_label_indices(len(xy))
                if epochs[i] >= 0
            ]
        for i in free_labels(ax, [item[:3] for item in labels], fontsize=EPOCH_FONTSIZE):
            x, y, text, color = labels[i]
            ax.annotate(
                text,
                (x, y),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=EPOCH_FONTSIZE,
                color=color,
            )
        handles, names = ax.get_legend_handles_labels()
        start = ax.plot([], [], "o", color="grey", markerfacecolor="white")[0]
        end = ax.plot([], [], "*", color="grey", markeredgecolor="black", markersize=8)[0]
        ax.legend(
            [*handles, start, end],
            [*names, "start", "end"],
            loc="lower left",
            bbox_to_anchor=(0.0, 1.01),
            ncol=min(len(names) + 2, 4),
            borderaxespad=0.0,
            handlelength=1.5,
            columnspacing=1.0,
            title=NOTE.format(float(traj.residual.max())) if note else None,
            title_fontsize=5.5,
            alignment="left",
        )
    return ax


def plot_trajectory(path: str | Path, ax: Axes, **options: Unpack[ContourOptions]) -> Axes:
    """``landscape plot --kind contour+path``: the paths of a trajectory file over its surface.

    Args:
        path: a file written by ``landscape trajectory``.
        ax: the axes to draw on.
        **options: the contour's :class:`~landscape.plotting.levels.ContourOptions`.

    Returns:
        ``ax``.

    Raises:
        LandscapeError: if the file holds no trajectory or no such metric.

    """
    traj = read_trajectory(path)
    if contents(path).surface_ndim is not None:
        surface = read_surface(path)
        style = dict(options)
        name, z = surface.metric(style.pop("metric", None))
        if surface.y is not None and np.isfinite(z).any():
            plot_contour(ax, surface.x, surface.y, z, label=metric_label(name), **style)
    return draw_paths(ax, traj)
