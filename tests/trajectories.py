"""Trajectory records built by hand for the plotting and report tests."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from landscape.records import Trajectory


def runs_trajectory(
    paths: Mapping[str, np.ndarray],
    *,
    explained: tuple[float, float],
    origin_label: str,
    lambda_max: np.ndarray | None = None,
) -> Trajectory:
    """Runs (label -> ``(k, 2)`` plane coordinates) of ``k`` checkpoints each, on one plane.

    Checkpoint ``i`` of every run is epoch ``i`` at step ``10 i``; the residuals are zero and
    ``explained`` is the explained-variance ratio of the two axes.
    """
    coords = list(paths.values())
    k, n = len(coords[0]), len(coords)
    return Trajectory(
        coords=np.concatenate(coords),
        epochs=np.tile(np.arange(k), n),
        steps=np.tile(np.arange(k) * 10, n),
        run=np.repeat(np.arange(n), k),
        labels=tuple(paths),
        residual=np.zeros(n * k),
        explained_variance_ratio=np.array(explained),
        origin_label=origin_label,
        lambda_max=lambda_max,
    )
