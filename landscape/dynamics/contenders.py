"""The runs behind each contender of a comparison, with their names and labels.

A contender (:class:`~landscape.io.groups.Contender`) is a run directory or a group of
runs that differ by seed (``DIR/seed-0/``, ``DIR/seed-1/``, ...). Every run keeps its own
summary; a group member is named ``<group>-seed-<n>`` (so that members of two groups stay
apart in ``compare.h5``) and labelled ``<group> seed <n>``; the group is labelled by its
directory's name. Plain runs are labelled as before, by optimizer (and learning rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from landscape.dynamics.runs import Run, read_run
from landscape.dynamics.summary import unique_labels
from landscape.errors import LandscapeError
from landscape.io.groups import Contender


@dataclass(frozen=True)
class ContenderRuns:
    """Every run of a comparison, flat, and which contender each belongs to.

    Attributes:
        runs: The runs in order (a group's members sorted by seed).
        labels: Each run's display label.
        contenders: The run names behind each contender label, in the order given.
    """

    runs: tuple[Run, ...]
    labels: tuple[str, ...]
    contenders: dict[str, tuple[str, ...]]


def read_contenders(contenders: Sequence[Contender]) -> ContenderRuns:
    """Read the runs of ``contenders`` and label them.

    Raises:
        LandscapeError: for no contenders, two runs with one name, or two contenders with
            one label (two groups in directories of the same name, say).
    """
    if not contenders:
        raise LandscapeError("compare: expected at least one run directory")
    members: list[list[Run]] = []
    for c in contenders:
        group = c.path.resolve().name
        runs = [read_run(p.resolve()) for p in c.runs]  # paths in configs: cwd-independent
        if c.is_group:
            runs = [replace(r, name=f"{group}-{p.name}") for r, p in zip(runs, c.runs, strict=True)]
        members.append(runs)
    flat = [r for runs in members for r in runs]
    names = [r.name for r in flat]
    if len(set(names)) != len(names):
        raise LandscapeError(
            f"compare: run directories need distinct names (got {', '.join(names)})"
        )
    singles = [runs[0] for c, runs in zip(contenders, members, strict=True) if not c.is_group]
    plain = iter(unique_labels(singles))
    labels: list[str] = []
    by_contender: dict[str, tuple[str, ...]] = {}
    for c, runs in zip(contenders, members, strict=True):
        if c.is_group:
            label = c.path.resolve().name
            labels += [f"{label} seed {s}" for s in c.seeds]
        else:
            label = next(plain)
            labels.append(label)
        if label in by_contender:
            raise LandscapeError(f"compare: two contenders are both labelled {label!r}")
        by_contender[label] = tuple(r.name for r in runs)
    return ContenderRuns(tuple(flat), tuple(labels), by_contender)
