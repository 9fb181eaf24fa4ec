"""Place contour labels where they are read whole: away from the axes' edges.

Matplotlib's automatic ``clabel`` placement may put a label where its line
meets the edge of the axes, and the axes then clip it ("2" for 1.2). Here
each level gets one label at the point of its line farthest from the edges,
and only if the whole label fits there, with a safety factor for the axes
shrinking when constrained layout makes room for ticks and the colour bar; a
level whose line only grazes a corner stays unlabelled (the colour bar still
names it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.contour import ContourSet
from matplotlib.text import Text

CHAR_WIDTH = 0.62
"""Width of one label character in units of the font size (DejaVu Sans digits)."""
SAFETY = 1.6
"""Labels keep this many times their own half-size from every edge of the axes."""
SAMPLES_PER_AXES = 60
"""Candidate positions per axes width along each line (lines are resampled this finely)."""


def label_contours(
    ax: Axes,
    cs: ContourSet,
    levels: Sequence[float],
    *,
    fmt: Callable[[float], str],
    fontsize: float,
) -> list[Text]:
    """Label each of ``levels`` once, where its line is farthest from the axes' edges.

    The axes limits must be final (set them before calling).

    Args:
        ax: the axes ``cs`` is drawn on.
        cs: line contours (``ax.contour``).
        levels: the levels to label, a subset of ``cs.levels``.
        fmt: level -> label text.
        fontsize: label size in points.

    Returns:
        The label texts (``cs.labelTexts``), one per level that has room.

    """
    fig = ax.get_figure()
    box = ax.get_position()
    width_pt = box.width * fig.get_figwidth() * 72
    height_pt = box.height * fig.get_figheight() * 72
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    chosen: list[float] = []
    positions: list[tuple[float, float]] = []
    for level in levels:
        index = int(np.argmin(np.abs(np.asarray(cs.levels) - level)))
        half_w = SAFETY * (len(fmt(level)) * CHAR_WIDTH * fontsize / 2) / width_pt
        half_h = SAFETY * (fontsize / 2) / height_pt
        best, best_margin = None, 0.0
        for segment in cs.allsegs[index]:
            if len(segment) < 2:
                continue
            points = _resample(segment, (x1 - x0) / SAMPLES_PER_AXES, (y1 - y0) / SAMPLES_PER_AXES)
            fx, fy = (points[:, 0] - x0) / (x1 - x0), (points[:, 1] - y0) / (y1 - y0)
            margin = np.minimum.reduce([fx - half_w, 1 - fx - half_w, fy - half_h, 1 - fy - half_h])
            k = int(np.argmax(margin))
            if margin[k] > best_margin:
                best, best_margin = points[k], float(margin[k])
        if best is not None:
            chosen.append(float(cs.levels[index]))
            positions.append((float(best[0]), float(best[1])))
    if positions:
        ax.clabel(cs, levels=chosen, manual=positions, inline=True, fontsize=fontsize, fmt=fmt)
    return list(cs.labelTexts)


def _resample(segment: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Points along ``segment`` no further apart than about ``dx`` / ``dy``."""
    steps = np.abs(np.diff(segment, axis=0)) / np.array([dx, dy])
    counts = np.maximum(1, np.ceil(steps.max(axis=1)).astype(int))
    parts = [
        a + np.linspace(0.0, 1.0, n, endpoint=False)[:, None] * (b - a)
        for a, b, n in zip(segment[:-1], segment[1:], counts, strict=True)
    ]
    return np.concatenate([*parts, segment[-1:]])


def free_labels(
    ax: Axes,
    items: Sequence[tuple[float, float, str]],
    *,
    fontsize: float,
    offset: tuple[float, float] = (3.0, 3.0),
) -> list[int]:
    """Pick the labels that can be drawn without overlapping one picked before them.

    Each item is a data point ``(x, y)`` and its text, to be drawn ``offset``
    points up and to the right of the point (``ax.annotate`` with
    ``textcoords="offset points"``). Items are taken in order; one whose box
    would overlap an earlier picked box is skipped. The axes limits must be
    final.

    Returns:
        The indices of the items to draw.

    """
    fig = ax.get_figure()
    box = ax.get_position()
    size = np.array([box.width * fig.get_figwidth(), box.height * fig.get_figheight()]) * 72
    to_axes = ax.transData + ax.transAxes.inverted()
    picked: list[int] = []
    boxes: list[tuple[float, float, float, float]] = []
    for i, (x, y, text) in enumerate(items):
        left, bottom = to_axes.transform((x, y)) * size + np.asarray(offset)
        right = left + SAFETY * len(text) * CHAR_WIDTH * fontsize
        top = bottom + SAFETY * fontsize
        if all(right < b[0] or left > b[2] or top < b[1] or bottom > b[3] for b in boxes):
            picked.append(i)
            boxes.append((left, bottom, right, top))
    return picked
