"""Figures of a ``connect`` file: loss along the paths, and the curve over its plane.

numpy, h5py (through :mod:`landscape.io.connect`) and matplotlib only.

* :func:`draw_paths`: train (solid) and test (dashed) loss against ``t`` for the straight
  line, the line after alignment and the fitted curve, each train barrier marked at its ``t``;
* :func:`draw_plane`: filled contours of the train loss over the plane of A, B and the
  control point C (orthonormal coordinates, A at the origin), with the straight line, the
  fitted curve and the three points;
* :func:`plot_connect`: both side by side (only the paths without a plane), for
  ``landscape plot c.h5``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, LogLocator

from landscape.errors import LandscapeError
from landscape.io.connect import Connection, read_connect
from landscape.plotting.style import COLORS, HEIGHTS, WIDTHS, Width, style_context

LEVELS = 20
LABELS = {"linear": "straight line", "aligned": "after alignment", "curve": "fitted curve"}


def draw_paths(conn: Connection, ax: Axes) -> Axes:
    """Loss against ``t`` along each path of ``conn`` on ``ax``; returns ``ax``.

    Each legend entry carries the path's train barrier; a dot marks where it lies.
    """
    with style_context():
        for color, (name, pv) in zip(COLORS, conn.paths.items(), strict=False):
            label = LABELS.get(name, name)
            if name == "curve" and conn.curve_kind:
                label = f"{conn.curve_kind} curve"
            height = conn.barriers.get(f"{name}_barrier")
            if height is not None:
                label = f"{label}: barrier {height:.3g}"
            if "train_loss" in pv.values:
                ax.plot(conn.t, pv.values["train_loss"], color=color, label=label)
                if height is not None:
                    tb = conn.barriers[f"{name}_barrier_t"]
                    at = float(np.interp(tb, conn.t, pv.values["train_loss"]))
                    ax.plot([tb], [at], "o", color=color, ms=3)
            if "test_loss" in pv.values:
                ax.plot(conn.t, pv.values["test_loss"], color=color, ls="--", lw=0.9)
        ax.set_xlabel("t  (A at 0, B at 1)")
        ax.set_ylabel("loss (solid: train, dashed: test)")
        ax.set_xlim(0, 1)
        ax.legend(loc="best")
    return ax


def draw_plane(conn: Connection, ax: Axes, *, log: bool | None = None) -> Axes:
    """Train loss over the plane of A, B and C with the line and the curve; returns ``ax``.

    With alignment the curve, and so the plane, ends at the aligned B (marked B′).

    Raises:
        LandscapeError: if ``conn`` holds no plane (computed by ``connect --curve``).

    """
    plane = conn.plane
    if plane is None:
        raise LandscapeError(
            f"{conn.path}: holds no plane; run landscape connect with --curve and --plane N"
        )
    loss = np.where(plane.done, plane.loss, np.nan)
    finite = loss[np.isfinite(loss)]
    if not finite.size:
        raise LandscapeError(f"{conn.path}: no point of the plane is computed yet")
    low, high = float(finite.min()), float(finite.max())
    if log is None:
        log = bool(low > 0 and high / low > 100)
    if log and low <= 0:
        raise LandscapeError("--log: the loss over the plane is not positive everywhere")
    with style_context():
        if log:
            levels = np.geomspace(low, high, LEVELS)
            filled = ax.contourf(plane.x, plane.y, loss, levels=levels, norm=LogNorm(low, high))
        else:
            filled = ax.contourf(plane.x, plane.y, loss, levels=LEVELS)
        ax.figure.colorbar(
            filled,
            ax=ax,
            label="train loss",
            ticks=LogLocator() if log else None,
            format=LogFormatterSciNotation() if log else None,
            shrink=0.8,
        )
        a, b, c = plane.corners
        ax.plot([a[0], b[0]], [a[1], b[1]], color="0.9", ls="--", lw=0.9, label="straight line")
        ax.plot(plane.curve[:, 0], plane.curve[:, 1], color=COLORS[1], label="fitted curve")
        end = "B′" if "aligned" in conn.paths else "B"  # B′: B after alignment
        for point, name in zip((a, b, c), ("A", end, "C"), strict=True):
            ax.plot(*point, "o", color="white", mec="black", ms=4)
            ax.annotate(name, point, textcoords="offset points", xytext=(4, 4), color="white")
        ax.set_xlabel("along B − A")
        ax.set_ylabel("toward C (orthogonal part)")
        ax.set_aspect("equal")
        ax.legend(loc="best", frameon=True, facecolor="0.4", labelcolor="white", fontsize=6)
    return ax


def plot_connect(
    path: str | Path,
    *,
    log: bool | None = None,
    width: Width = "double",
    height: float | None = None,
) -> Figure:
    """``landscape plot c.h5``: the paths' losses, and the plane when the file holds one.

    Raises:
        LandscapeError: for a file without a ``connect`` group or a bad width.

    """
    conn = read_connect(path)
    if width not in WIDTHS:
        raise LandscapeError(f"width: expected single or double (got {width!r})")
    panels = 2 if conn.plane is not None else 1
    size = (WIDTHS[width], height if height is not None else HEIGHTS[width])
    with style_context():
        fig = Figure(figsize=size, layout="constrained")
        axes = fig.subplots(1, panels, squeeze=False).ravel()
        draw_paths(conn, axes[0])
        if panels == 2:
            draw_plane(conn, axes[1], log=log)
    return fig
