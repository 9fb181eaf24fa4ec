"""The records of a diagnosis: phases, findings and the thresholds that produced them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

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


@dataclass(frozen=True)
class Thresholds:
    """The thresholds of every detector (stored with the diagnosis).

    Attributes:
        fast_rate: an epoch improving the loss by at least this fraction of the
            total improvement is fast learning.
        converged_tol: convergence begins once the remaining improvement is
            below this fraction of the total.
        min_converged: convergence needs at least this many epochs.
        overfit_rise: validation loss must end this fraction above its minimum.
        overfit_patience: and at least this many epochs after it.
        overfit_alpha: one-sided significance level of the rise and fall trends.
        smooth_window: epochs in the centred mean that locates the best epoch.
        edge_band: sharpness within this fraction below its threshold is at the edge.
        edge_min_records: an edge-of-stability stretch spans at least this many records.
        explode_factor: a gradient norm this many times the median of the
            previous ``explode_window`` steps is an explosion.
        explode_window: steps in that median.
        vanish_ratio: first-layer over last-layer gradient norm below this is vanishing.
        plateau_tol: an epoch improving less than this fraction of the total is flat.
        plateau_length: a plateau spans at least this many epochs.

    """

    fast_rate: float = 0.05
    converged_tol: float = 0.01
    min_converged: int = 3
    overfit_rise: float = 0.05
    overfit_patience: int = 3
    overfit_alpha: float = 0.05
    smooth_window: int = 3
    edge_band: float = 0.1
    edge_min_records: int = 3
    explode_factor: float = 10.0
    explode_window: int = 10
    vanish_ratio: float = 1e-3
    plateau_tol: float = 0.01
    plateau_length: int = 3


@dataclass(frozen=True)
class Diagnosis:
    """Phases and findings of a run, with the thresholds that produced them."""

    phases: tuple[Phase, ...]
    findings: tuple[Finding, ...]
    thresholds: Thresholds = field(default_factory=Thresholds)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dictionary (the stored form)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Diagnosis:
        """Rebuild a diagnosis from :meth:`to_dict` output."""
        return cls(
            phases=tuple(Phase(**p) for p in d["phases"]),
            findings=tuple(Finding(**f) for f in d["findings"]),
            thresholds=Thresholds(**d["thresholds"]),
        )

    def lines(self) -> list[str]:
        """Describe the diagnosis in human-readable lines."""
        out = ["phases:"]
        if not self.phases:
            out.append("  none (the training loss did not improve)")
        for i, p in enumerate(self.phases):
            last = i == len(self.phases) - 1
            end = p.end_epoch if last else p.end_epoch - 1
            out.append(f"  {p.name:<22} epochs {p.start_epoch}-{end}")
        out.append("findings:")
        if not self.findings:
            out.append("  none")
        out.extend(f"  {f.kind} from epoch {f.start_epoch}: {f.detail}" for f in self.findings)
        return out
