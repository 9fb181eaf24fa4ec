"""The report's paths figure: every run's checkpoints on the comparison's shared PCA plane.

Seeds start from different initializations, so on a plane shared by several seeds the
distance between the starting points takes most of the spread and every path shrinks to a
dot beside its start (the quick demo: 92.9 % of the variance along the line between two
initializations). :func:`start_groups` finds runs that start at one point; when there are
a few such groups, each lying in a small part of the plane, :func:`paths_figure` draws one
panel per group, each zoomed on its own paths, on the same plane and one colour scale, and
the caption says so. A single far-away checkpoint is clipped and marked inside a panel
(:func:`landscape.plotting.paths.plot_paths`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from landscape.io.surface import read_surface
from landscape.plotting.paths import path_norm, plot_background_contours, plot_paths
from landscape.plotting.style import CMAP, HEIGHTS, WIDTHS, direction_label, style_context
from landscape.records import Comparison, Trajectory

MAX_PANELS = 4
"""At most this many start groups get a panel each; more share one plane."""

ZOOM = 1 / 3
"""Panels are drawn when every group's own extent is below this fraction of the whole."""


def start_groups(coords: Mapping[str, np.ndarray], *, tol: float = 1e-6) -> list[list[str]]:
    """The runs whose first checkpoints coincide on the plane, grouped, in order.

    Args:
        coords: run label -> ``(k, 2)`` plane coordinates of its checkpoints.
        tol: Distance, relative to the extent of all points, under which two starts coincide.

    >>> a, b = np.array([[0.0, 0], [1, 1]]), np.array([[10.0, 0], [11, 1]])
    >>> start_groups({"A0": a, "B0": a + 0.5, "A1": b})
    [['A0'], ['B0'], ['A1']]
    >>> start_groups({"A0": a, "B0": a * 2, "A1": b})
    [['A0', 'B0'], ['A1']]
    """
    points = (
        np.concatenate([np.asarray(c) for c in coords.values()]) if coords else np.zeros((0, 2))
    )
    extent = float(np.ptp(points, axis=0).max()) if len(points) else 0.0
    groups: list[tuple[np.ndarray, list[str]]] = []
    for label, c in coords.items():
        start = np.asarray(c)[0]
        for first, members in groups:
            if np.linalg.norm(first - start) <= tol * max(extent, 1e-300):
                members.append(label)
                break
        else:
            groups.append((start, [label]))
    return [members for _, members in groups]


def separate_panels(coords: Mapping[str, np.ndarray]) -> list[list[str]] | None:
    """The start groups to draw in panels of their own, or ``None`` for one shared panel.

    Panels are drawn for 2 to :data:`MAX_PANELS` start groups when the bounding box of
    each group's points has a diagonal below :data:`ZOOM` times that of all points.

    >>> a, b = np.array([[0.0, 0], [1, 1]]), np.array([[10.0, 0], [11, 1]])
    >>> separate_panels({"A0": a, "A1": b})
    [['A0'], ['A1']]
    >>> separate_panels({"A0": a, "A1": a * 5 + 0.1}) is None
    True
    """
    groups = start_groups(coords)
    if not 2 <= len(groups) <= MAX_PANELS:
        return None
    whole = _diagonal(list(coords.values()))
    if all(_diagonal([coords[k] for k in members]) < ZOOM * whole for members in groups):
        return groups
    return None


def _diagonal(paths: list[np.ndarray]) -> float:
    """The diagonal of the bounding box of every point of ``paths``."""
    return float(np.linalg.norm(np.ptp(np.concatenate([np.asarray(c) for c in paths]), axis=0)))


def panels_note(plane: Trajectory, labels: list[str]) -> str:
    """The caption's sentence on the panels, empty when one panel shows every run."""
    panels = separate_panels(plane_coords(plane, labels))
    if panels is None:
        return ""
    return (
        f"The runs start from {len(panels)} different initializations, whose distance takes "
        "most of the plane's spread, so the runs of each start have a panel of their own, "
        "zoomed on their paths (one plane, one colour scale). "
    )


def plane_coords(plane: Trajectory, labels: list[str]) -> dict[str, np.ndarray]:
    """Each run's ``(k, 2)`` plane coordinates, by its label (``labels`` in run order)."""
    return {label: plane.coords[plane.run == i] for i, label in enumerate(labels)}


def _zoom(ax: Any, points: np.ndarray) -> None:
    """Limits around ``points`` with a margin of a tenth of their span (at least 1e-3)."""
    low, high = points.min(axis=0), points.max(axis=0)
    pad = np.maximum(0.1 * (high - low), 1e-3 * max(float(np.abs(points).max()), 1.0))
    ax.set_xlim(low[0] - pad[0], high[0] + pad[0])
    ax.set_ylim(low[1] - pad[1], high[1] + pad[1])


def paths_figure(c: Comparison, labels: list[str], groups: Mapping[str, str]) -> Figure | None:
    """Every run's path on the shared PCA plane, coloured by λ_max at the checkpoints.

    One panel per start group when :func:`separate_panels` says so (each titled by the
    seed its runs share when their labels end in ``seed N``), else one panel.

    Args:
        c: The comparison.
        labels: A unique label per run, in the order of ``c.runs``.
        groups: Run label -> contender (runs of one contender share a marker).
    """
    p = c.plane
    if p is None:
        return None
    coords = plane_coords(p, labels)
    values = {labels[i]: p.lambda_max[p.run == i] for i in range(len(labels))}
    ev = 100 * p.explained_variance_ratio
    axis_labels = tuple(direction_label(k + 1, f"PCA, {ev[k]:.1f}% of variance") for k in (0, 1))
    panels = separate_panels(coords)
    surface = read_surface(c.path.parent / p.surface) if p.surface is not None else None
    norm = path_norm(values)
    with style_context():
        if panels is None:
            fig = Figure(figsize=(WIDTHS["single"], 3.4), layout="constrained")
            axes, panels = [fig.subplots()], [list(coords)]
        else:
            fig = Figure(figsize=(WIDTHS["double"], HEIGHTS["double"] + 0.6), layout="constrained")
            axes = list(fig.subplots(1, len(panels), squeeze=False).ravel())
    legend: dict[str, Any] = {}
    for i, (ax, members) in enumerate(zip(axes, panels, strict=True)):
        if surface is not None and surface.y is not None:
            plot_background_contours(ax, surface.x, surface.y, surface.metric("train_loss")[1])
        if len(axes) > 1:
            _zoom(ax, np.concatenate([coords[k] for k in members]))
        plot_paths(
            ax,
            {k: coords[k] for k in members},
            {k: values[k] for k in members},
            label="λ_max at checkpoint",
            axis_labels=(axis_labels[0], axis_labels[1] if i == 0 else ""),
            groups=groups,
            norm=norm,
            colorbar=len(axes) == 1,
        )
        if len(axes) > 1:
            found = ax.get_legend()
            for handle, text in zip(found.legend_handles, found.get_texts(), strict=True):
                legend.setdefault(text.get_text(), handle)
            found.remove()
            with style_context():
                ax.set_title(_panel_title(members, i), fontsize="small")
    if len(axes) > 1:
        with style_context():
            fig.legend(list(legend.values()), list(legend), loc="outside upper center", ncols=6)
            if norm is not None:
                fig.colorbar(
                    ScalarMappable(norm=norm, cmap=CMAP), ax=axes, label="λ_max at checkpoint"
                )
    return fig


def _panel_title(members: list[str], index: int) -> str:
    """``seed N`` when every run of the panel is labelled ``... seed N``, else ``start i``."""
    ends = {m.rsplit(" seed ", 1)[1] for m in members if " seed " in m}
    if len(ends) == 1 and all(" seed " in m for m in members):
        return f"runs from the start of seed {ends.pop()}"
    return f"runs from start {index + 1}"
