"""The cached curvature of ``compare.h5`` (``curvature/<run>``): h5py and numpy only.

``landscape compare`` measures λ_max, the preconditioned λ_max and the
stability threshold at a run's checkpoints once, and keeps them under a
fingerprint of the checkpoint files and the settings, so a re-run reuses them
(layout in :mod:`landscape.report.results`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landscape import store
from landscape.report.results import CURVATURE, CURVATURE_KEYS


@dataclass(frozen=True)
class CurvatureSeries:
    """Curvature measured at a run's checkpoints (the cached ``curvature/<run>`` group)."""

    epoch: np.ndarray
    step: np.ndarray
    lambda_max: np.ndarray
    precond_lambda_max: np.ndarray
    threshold: np.ndarray
    trace: float
    trace_stderr: float


def read_cached_curvature(path: Path, name: str, fingerprint: str) -> CurvatureSeries | None:
    """Run ``name``'s curvature in ``path`` if it was made with ``fingerprint``, else ``None``."""
    if not path.exists():
        return None
    with store.open_read(path) as f:
        g = f.get(f"{CURVATURE}/{name}")
        if g is None or g.attrs.get("fingerprint") != fingerprint:
            return None
        return CurvatureSeries(
            *(g[k][()] for k in CURVATURE_KEYS),
            trace=float(g.attrs["trace"]),
            trace_stderr=float(g.attrs["trace_stderr"]),
        )


def write_cached_curvature(
    path: Path,
    name: str,
    fingerprint: str,
    c: CurvatureSeries,
    config: dict[str, Any],
    command: str | None,
) -> None:
    """Replace run ``name``'s ``curvature/<name>`` group in one crash-safe transaction."""
    with store.atomic_update(path, new=not path.exists(), command=command) as f:
        g = f.require_group(CURVATURE)
        g.attrs["config"] = store.config_json(config)
        if name in g:
            del g[name]
        rg = g.create_group(name)
        rg.attrs["fingerprint"] = fingerprint
        rg.attrs["trace"] = c.trace
        rg.attrs["trace_stderr"] = c.trace_stderr
        for k in CURVATURE_KEYS:
            rg.create_dataset(k, data=getattr(c, k))


def check_curvature_config(path: Path, config: dict[str, Any], *, overwrite: bool) -> None:
    """Refuse (or, with ``overwrite``, forget) a cache made with other curvature settings."""
    if not path.exists():
        return
    if not store.check_resumable(path, CURVATURE, config, overwrite=overwrite) and overwrite:
        with store.atomic_update(path) as f:
            if CURVATURE in f:
                del f[CURVATURE]
