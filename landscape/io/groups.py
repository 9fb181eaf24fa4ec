"""Contenders on disk: a run directory, or a group directory of runs that differ by seed.

``landscape train --seeds 0,1,2 --out DIR`` writes ``DIR/seed-0/``, ``DIR/seed-1/``, ...,
each an ordinary run (``run.h5`` and ``checkpoints/``). A path given to ``compare`` is a
group when it holds no ``run.h5`` of its own but ``seed-*/run.h5`` entries; it is a single
run otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from landscape.errors import LandscapeError

SEED_DIR = "seed-"
"""Prefix of a group member's directory name; the seed follows."""

RUN_FILE = "run.h5"

_MEMBER = re.compile(rf"^{SEED_DIR}(\d+)$")


@dataclass(frozen=True)
class Contender:
    """One contender of a comparison.

    Attributes:
        path: The run or group directory as given.
        runs: The run directories behind it: itself, or a group's members sorted by seed.
        seeds: The members' seeds (empty for a single run, whose seed is in its file).
    """

    path: Path
    runs: tuple[Path, ...]
    seeds: tuple[int, ...] = ()

    @property
    def is_group(self) -> bool:
        """Whether this contender is a group of seeds."""
        return bool(self.seeds)


def find_contender(path: str | Path) -> Contender:
    """The run or seed group at ``path``.

    Raises:
        LandscapeError: when ``path`` is neither a run nor a group of runs.
    """
    root = Path(path)
    if (root / RUN_FILE).is_file():
        return Contender(root, (root,))
    members = []
    if root.is_dir():
        for child in root.iterdir():
            match = _MEMBER.match(child.name)
            if match and not child.is_symlink() and (child / RUN_FILE).is_file():
                members.append((int(match.group(1)), child))
    if not members:
        raise LandscapeError(
            f"{root}: not a run (no {RUN_FILE}) nor a group of runs ({SEED_DIR}N/{RUN_FILE})"
        )
    members.sort()
    return Contender(root, tuple(p for _, p in members), tuple(s for s, _ in members))


def find_contenders(paths: Sequence[str | Path]) -> list[Contender]:
    """The contenders at ``paths``, refusing a run named twice (directly or in a group)."""
    contenders = [find_contender(p) for p in paths]
    seen: dict[Path, Path] = {}
    for contender in contenders:
        for run in contender.runs:
            key = run.resolve()
            if key in seen:
                raise LandscapeError(f"{run}: named twice (also through {seen[key]})")
            seen[key] = contender.path
    return contenders
