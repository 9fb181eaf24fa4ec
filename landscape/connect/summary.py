"""Barriers between groups of runs, with intervals over seeds, in words (numpy only).

Runs with the same label are seeds of one setting (an optimizer, a learning rate). Between
groups ``g`` and ``h`` the sample is the barriers of every pair ``(i in g, j in h)``; within a
group it is every pair of distinct seeds. Each is summarized by its mean and a 95% Student-t
interval over those pairs (:func:`~landscape.stats.mean_interval`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape.io.connect import BarrierMatrix
from landscape.stats import Interval, mean_interval

PATH_WORDS = {
    "linear": "along the straight line",
    "aligned": "after alignment",
    "curve": "along the fitted curve",
}


@dataclass(frozen=True)
class GroupBarrier:
    """The barrier between two groups of runs (or within one) along one kind of path.

    Attributes:
        first: label of the first group.
        second: label of the second group (equal to ``first`` within a group).
        kind: ``linear``, ``aligned`` or ``curve``.
        interval: mean and 95% interval over the pairs of runs.

    """

    first: str
    second: str
    kind: str
    interval: Interval


def group_barriers(matrix: BarrierMatrix) -> list[GroupBarrier]:
    """Every pair of groups (first-seen order), within-group pairs included, for each kind.

    Kinds come in the order line, aligned, curve.

    >>> m = BarrierMatrix(["a0", "a1", "b0"], ["a", "a", "b"], [], {"linear": np.array(
    ...     [[0, 1, 2], [1, 0, 4], [2, 4, 0]], float)}, {}, None)
    >>> [(g.first, g.second, g.interval.estimate) for g in group_barriers(m)]
    [('a', 'a', 1.0), ('a', 'b', 3.0)]
    """
    labels = list(dict.fromkeys(matrix.labels))
    lab = np.array(matrix.labels)
    kinds = sorted(matrix.barriers, key=lambda k: [*PATH_WORDS, k].index(k))
    out = []
    for x, first in enumerate(labels):
        for second in labels[x:]:
            for kind in kinds:
                m = matrix.barriers[kind]
                rows, cols = np.flatnonzero(lab == first), np.flatnonzero(lab == second)
                pairs = [m[i, j] for i in rows for j in cols if i < j or first != second]
                values = np.array([v for v in pairs if np.isfinite(v)])
                if len(values):
                    out.append(GroupBarrier(first, second, kind, mean_interval(values)))
    return out


def _value(i: Interval) -> str:
    if i.n < 2:
        return f"{i.estimate:.3g} (1 pair)"
    return f"{i.estimate:.3g} (95% CI {i.low:.3g} to {i.high:.3g}, {i.n} pairs)"


def sentences(matrix: BarrierMatrix) -> list[str]:
    r"""One sentence per pair of groups, e.g. "sgd's and adam's solutions are separated ...".

    >>> m = BarrierMatrix(["s", "a"], ["sgd", "adam"], [], {"linear": np.array(
    ...     [[0, 0.5], [0.5, 0]]), "aligned": np.array([[0, 0.1], [0.1, 0]])}, {}, None)
    >>> print(*sentences(m)[0].split(", "), sep=",\n")
    sgd's and adam's solutions are separated by a barrier of 0.5 (1 pair) along the straight line,
    0.1 (1 pair) after alignment (train loss).
    """
    by_pair: dict[tuple[str, str], list[GroupBarrier]] = {}
    for g in group_barriers(matrix):
        by_pair.setdefault((g.first, g.second), []).append(g)
    out = []
    for (first, second), items in by_pair.items():
        parts = [f"{_value(g.interval)} {PATH_WORDS.get(g.kind, g.kind)}" for g in items]
        who = (
            f"{first}'s seeds are separated"
            if first == second
            else f"{first}'s and {second}'s solutions are separated"
        )
        out.append(f"{who} by a barrier of {', '.join(parts)} (train loss).")
    return out
