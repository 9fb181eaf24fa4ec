"""The edge of stability in recorded sharpness (numpy only).

Gradient descent with step size η is stable on a quadratic only while the top Hessian
eigenvalue λ_max stays below 2/η; on neural networks full-batch GD sharpens until λ_max
reaches 2/η and then hovers there while the loss keeps falling non-monotonically (Cohen
et al. 2021, "Gradient descent on neural networks typically occurs at the edge of
stability"). Adaptive methods do the same with the preconditioned sharpness
λ_max(P^{-1/2} H P^{-1/2}) against their own threshold, 38/η for Adam with β1 = 0.9
(Cohen et al. 2022, "Adaptive gradient methods at the edge of stability"). The probe of
``landscape train --track-sharpness`` records both sides of that comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape.records import Finding


@dataclass(frozen=True)
class EdgeStretch:
    """A stretch of records at the edge of stability.

    Attributes:
        start: Index of the first record of the stretch.
        end: Index of its last record (inclusive).
        median_ratio: Median of sharpness / threshold over the stretch.
        records: Number of records in it.
    """

    start: int
    end: int
    median_ratio: float
    records: int


def edge_stretches(
    sharpness: np.ndarray, threshold: np.ndarray, *, band: float = 0.1, min_records: int = 3
) -> list[EdgeStretch]:
    """Maximal runs of at least ``min_records`` records with sharpness ≥ (1 - band) · threshold.

    Args:
        sharpness: λ_max (or the preconditioned λ_max for an adaptive method) per record.
        threshold: The stability threshold per record (2/η for GD; it follows the learning
            rate schedule).
        band: How far below the threshold still counts as at the edge.
        min_records: The shortest stretch that counts.

    Returns:
        The stretches, in order.

    >>> s = np.array([1.0, 1.9, 2.05, 1.95, 2.0, 0.5, 2.0])
    >>> [(e.start, e.end, e.records) for e in edge_stretches(s, np.full(7, 2.0))]
    [(1, 4, 4)]
    """
    s, t = np.asarray(sharpness, np.float64), np.asarray(threshold, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = s / t
    at_edge = np.isfinite(ratio) & (ratio >= 1.0 - band)
    stretches: list[EdgeStretch] = []
    i = 0
    while i < at_edge.size:
        if not at_edge[i]:
            i += 1
            continue
        j = i
        while j + 1 < at_edge.size and at_edge[j + 1]:
            j += 1
        if j - i + 1 >= min_records:
            stretches.append(EdgeStretch(i, j, float(np.median(ratio[i : j + 1])), j - i + 1))
        i = j + 1
    return stretches


def detect_edge_of_stability(
    step_epochs: np.ndarray,
    steps: np.ndarray,
    sharpness: np.ndarray,
    threshold: np.ndarray,
    *,
    measure: str,
    band: float = 0.1,
    min_records: int = 3,
) -> tuple[Finding, ...]:
    """Name each sustained stretch of sharpness at its stability threshold.

    Args:
        step_epochs: The epoch each record falls in.
        steps: The step of each record.
        sharpness: The measure compared with the threshold, per record.
        threshold: The optimizer's stability threshold per record.
        measure: How the detail names the measure (``λ_max`` or ``preconditioned λ_max``).
        band: How far below the threshold still counts (see :func:`edge_stretches`).
        min_records: The shortest stretch that counts.

    >>> s = np.array([1.0, 1.9, 2.05, 1.95, 2.0, 1.98])
    >>> f = detect_edge_of_stability(np.arange(6), np.arange(6) * 10, s, np.full(6, 2.0),
    ...                              measure="λ_max")
    >>> (f[0].kind, f[0].start_epoch, f[0].end_epoch)
    ('edge of stability', 1, 5)
    """
    found = []
    stretches = edge_stretches(sharpness, threshold, band=band, min_records=min_records)
    for stretch in stretches:
        a, b = stretch.start, stretch.end
        found.append(
            Finding(
                "edge of stability",
                int(step_epochs[a]),
                int(step_epochs[b]),
                f"{measure} stayed at or above {1 - band:.0%} of the stability threshold "
                f"over steps {int(steps[a])}-{int(steps[b])} ({stretch.records} records, "
                f"median ratio {stretch.median_ratio:.3g})",
            )
        )
    return tuple(found)
