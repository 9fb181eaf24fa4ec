"""What a surface figure says about its file: axis names, checkpoint marks, points computed.

Read from the file's provenance (``directions/`` attributes, the ``done``
mask), never from the model: the axis names say how the directions were made
(random and filter-normalized, PCA, Hessian eigenvectors, toward the targets
of a plane), the checkpoints a surface is centred on or passes through are
marked, and a partial file says how many points of the drawn metric are done.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from landscape.plotting.style import direction_label, metric_label
from landscape.records import Surface

PLANE_CORNERS: tuple[tuple[float, float], ...] = ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0))
"""Where the three checkpoints of a ``plane`` surface lie."""


def axis_labels(surface: Surface, *, short: bool = False) -> tuple[str, str]:
    """Axis labels from how the directions were made (``directions/`` attributes).

    ``short`` drops the explanation in parentheses (for cramped 3D axes).

    >>> from pathlib import Path
    >>> s = Surface(np.zeros(2), np.zeros(2), {}, np.zeros((2, 2), bool), path=Path("s.h5"),
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
        second, third = (f"toward {name}" for name in plane_checkpoints(surface)[1:])
        return direction_label(1, second), direction_label(2, third)
    if kind == "pca":
        return direction_label(1, "PCA"), direction_label(2, "PCA")
    if kind == "hessian":
        return direction_label(1, "Hessian eigenvector"), direction_label(2, "Hessian eigenvector")
    detail = ", ".join(
        str(p) for p in (kind, f"{norm}-normalized" if norm and norm != "none" else None) if p
    )
    return direction_label(1, detail), direction_label(2, detail)


def computed_points(surface: Surface, name: str) -> np.ndarray:
    """The mask of points computed for metric ``name``.

    A landscape file computes every metric of a point together (its ``done``
    mask); a Li et al. file fills each split on its own (a complete train
    surface beside a partial test one), so there the metric's own ``-1``
    (read as NaN) marks what is missing.
    """
    if surface.source == "li2018":
        return np.isfinite(surface.values[name])
    return surface.done


def progress_note(surface: Surface, names: list[str]) -> str:
    """``"N of M points computed"`` for the metrics drawn, or ``""`` when they are complete.

    Metrics with different counts are named: ``"20 of 77 points computed (test loss)"``.
    """
    total = surface.done.size
    counts: dict[int, list[str]] = {}
    for name in names:
        counts.setdefault(int(computed_points(surface, name).sum()), []).append(name)
    partial = {n: group for n, group in counts.items() if n < total}
    if not partial:
        return ""
    if len(counts) == 1:
        return f"{next(iter(partial))} of {total} points computed"
    return "; ".join(
        f"{n} of {total} points computed ({', '.join(metric_label(g) for g in group)})"
        for n, group in sorted(partial.items())
    )


def plane_checkpoints(surface: Surface) -> tuple[str, str, str]:
    """Short names of the three checkpoints a plane passes through, at (0,0), (1,0), (0,1).

    The targets are named by their last folder and file (``adam/final.pt``) when
    the file records them (``directions/`` attribute ``targets``), else by their order.

    >>> from pathlib import Path
    >>> s = Surface(np.zeros(2), np.zeros(2), {}, np.zeros((2, 2), bool), path=Path("s.h5"),
    ...             directions={"kind": "plane",
    ...                 "targets": '["runs/adam/final.pt", "b.pt"]'})
    >>> plane_checkpoints(s)
    ('the checkpoint', 'adam/final.pt', 'b.pt')
    """
    try:
        targets = [str(t) for t in json.loads(str(surface.directions.get("targets", "[]")))]
    except json.JSONDecodeError:
        targets = []
    if len(targets) != 2:
        targets = ["the second checkpoint", "the third checkpoint"]
    short = [str(Path(*Path(t).parts[-2:])) if "/" in t else t for t in targets]
    return ("the checkpoint", short[0], short[1])


def mark_checkpoints(ax: Axes, surface: Surface) -> None:
    """``+`` at the checkpoint of a surface around one; a labelled dot at each plane corner."""
    if centred_on_checkpoint(surface):
        ax.plot([0.0], [0.0], marker="+", color="black", markersize=6, linestyle="none")
    if surface.y is None or surface.directions.get("kind") != "plane":
        return
    names = ("checkpoint", *plane_checkpoints(surface)[1:])
    for (px, py), name in zip(PLANE_CORNERS, names, strict=True):
        if surface.x.min() <= px <= surface.x.max() and surface.y.min() <= py <= surface.y.max():
            ax.plot([px], [py], marker="o", color="black", markeredgecolor="white", markersize=4)
            ax.annotate(
                name, (px, py), xytext=(3, 3), textcoords="offset points", fontsize=6, color="black"
            )


def centred_on_checkpoint(surface: Surface) -> bool:
    """Whether ``(0, 0)`` is the checkpoint and inside the grid (marked ``+`` on contours).

    True for directions taken around one checkpoint (random, PCA, Hessian,
    from a file, or a Li et al. file), false for planes through several.
    """
    if surface.y is None or surface.directions.get("kind") in ("interp", "plane"):
        return False
    return bool(surface.x.min() <= 0 <= surface.x.max() and surface.y.min() <= 0 <= surface.y.max())
