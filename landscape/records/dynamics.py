"""Records of a diagnosis: training phases and detected events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PhaseName = Literal["fast initial learning", "gradual adjustment", "convergence"]
FindingKind = Literal[
    "overfitting",
    "exploding gradients",
    "vanishing gradients",
    "divergence",
    "plateau",
    "edge of stability",
]


@dataclass(frozen=True)
class Phase:
    """A stretch of training: ``name`` from ``start_epoch`` up to (excluding) ``end_epoch``.

    The last phase ends at the last epoch, inclusive.
    """

    name: PhaseName
    start_epoch: int
    end_epoch: int


@dataclass(frozen=True)
class Finding:
    """A detected event: ``kind`` beginning at ``start_epoch`` (and ending at ``end_epoch``)."""

    kind: FindingKind
    start_epoch: int
    end_epoch: int | None
    detail: str
