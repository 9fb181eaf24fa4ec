"""Draw curvature: the Hessian spectrum (SLQ density, log scale) and curvature maps.

:func:`draw_spectrum` and :func:`draw_curvature_map` are pure (arrays and an
``Axes`` in, the ``Axes`` out); :func:`plot_spectrum` (``landscape plot
--kind spectrum``) reads ``curvature/hessian`` of a file written by
``landscape hessian``, and :func:`plot_curvature_map` reads
``curvature/map`` of a surface file written by ``landscape curvature-map``.
No torch here: files are read through :mod:`landscape.io`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from landscape.errors import LandscapeError
from landscape.io.curvature import read_map, read_spectrum
from landscape.io.surface import read_surface
from landscape.plotting.labels import label_contours
from landscape.plotting.levels import format_level
from landscape.plotting.style import CMAP, COLORS, direction_label, style_context

DENSITY_FLOOR = 1e-10
"""Densities below this fraction of the peak are drawn at it (a log axis has no zero)."""


def draw_spectrum(
    ax: Axes,
    *,
    top: np.ndarray,
    bottom: np.ndarray | None = None,
    grid: np.ndarray | None = None,
    density: np.ndarray | None = None,
) -> Axes:
    """Draw the eigenvalue density (log scale) and mark the computed eigenvalues.

    With a density, it is drawn as a line on a log y-axis (the bulk near zero
    and the outliers differ by orders of magnitude, Ghorbani et al. 2019) and
    each top/bottom eigenvalue is a vertical tick along the top edge. Without
    one, the eigenvalues are drawn as bars against their rank. The legend,
    titled "Hessian spectrum", sits above the axes.

    Args:
        ax: the axes to draw on.
        top: largest eigenvalues.
        bottom: smallest eigenvalues, if computed.
        grid: eigenvalue axis of the density.
        density: density values on ``grid``.

    """
    with style_context():
        if grid is not None and density is not None:
            floor = DENSITY_FLOOR * float(np.max(density)) if np.max(density) > 0 else DENSITY_FLOOR
            ax.semilogy(grid, np.maximum(density, floor), color=COLORS[0], label="density (SLQ)")
            ax.set_xlabel("eigenvalue λ")
            ax.set_ylabel("density")
            for values, color, label in (
                (top, COLORS[1], "top-k"),
                (bottom, COLORS[2], "bottom-k"),
            ):
                if values is not None and len(values):
                    ax.vlines(
                        values,
                        0.9,
                        1.0,
                        transform=ax.get_xaxis_transform(),
                        color=color,
                        label=label,
                    )
        else:
            ranks = np.arange(1, len(top) + 1)
            ax.bar(ranks, top, color=COLORS[1], label="largest")
            if bottom is not None and len(bottom):
                ax.bar(-np.arange(1, len(bottom) + 1), bottom, color=COLORS[2], label="smallest")
                ax.axhline(0.0, color="0.5", linewidth=0.6)
            ax.set_xlabel(
                "rank (negative: from the bottom)" if bottom is not None and len(bottom) else "rank"
            )
            ax.set_ylabel("eigenvalue λ")
        # above the axes, so it never covers the eigenvalue marks along the top edge
        ax.legend(
            title="Hessian spectrum",
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            ncols=3,
            borderaxespad=0.2,
        )
    return ax


def plot_spectrum(path: Path, ax: Axes) -> Axes:
    """Draw the spectrum stored in ``curvature/hessian`` of ``path``.

    Raises:
        LandscapeError: if the file holds no ``curvature/hessian/top``.

    """
    s = read_spectrum(path)
    return draw_spectrum(
        ax,
        top=s.top.eigenvalues,
        bottom=None if s.bottom is None else s.bottom.eigenvalues,
        grid=None if s.density is None else s.density.grid,
        density=None if s.density is None else s.density.density,
    )


MAP_LABELS = {
    "ratio": "|λ_min / λ_max|",
    "lambda_max": "λ_max",
    "lambda_min": "λ_min",
}
"""Metrics of ``curvature/map`` and their axis labels."""


def draw_curvature_map(
    ax: Axes,
    *,
    x: np.ndarray,
    y: np.ndarray | None,
    values: np.ndarray,
    loss: np.ndarray | None = None,
    label: str = "|λ_min / λ_max|",
) -> Axes:
    """Draw a curvature map: a heat map (2D) or curve (1D), with loss contours over a 2D map.

    ``values`` and ``loss`` are indexed ``[iy, ix]`` in 2D; NaN (not yet
    computed) is left blank.
    """
    with style_context():
        if y is None:
            ax.plot(x, values, color=COLORS[0], marker="o")
            ax.set_xlabel(direction_label(1))
            ax.set_ylabel(label)
        else:
            mesh = ax.pcolormesh(x, y, np.ma.masked_invalid(values), shading="nearest", cmap=CMAP)
            ax.figure.colorbar(mesh, ax=ax, label=label)
            if loss is not None and np.isfinite(loss).sum() > 3 and len(x) > 1 and len(y) > 1:
                cs = ax.contour(x, y, np.ma.masked_invalid(loss), colors="white", linewidths=0.6)
                ax.set_xlim(float(np.min(x)), float(np.max(x)))
                ax.set_ylim(float(np.min(y)), float(np.max(y)))
                label_contours(ax, cs, cs.levels, fmt=format_level, fontsize=6)
            ax.set_xlabel(direction_label(1))
            ax.set_ylabel(direction_label(2))
        ax.set_title(f"curvature map: {label}")
    return ax


def plot_curvature_map(path: Path, ax: Axes, metric: str = "ratio") -> Axes:
    """Draw ``curvature/map/<metric>`` of a surface file, with its train-loss contours.

    Raises:
        LandscapeError: if the file holds no curvature map or the metric is unknown.

    """
    if metric not in MAP_LABELS:
        raise LandscapeError(f"metric: expected one of {', '.join(MAP_LABELS)} (got {metric!r})")
    values = getattr(read_map(path), metric)
    surface = read_surface(path)
    return draw_curvature_map(
        ax,
        x=surface.x,
        y=surface.y,
        values=values,
        loss=surface.values.get("train_loss"),
        label=MAP_LABELS[metric],
    )
