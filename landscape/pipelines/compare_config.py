"""Settings of ``landscape compare``: what it measures and how targets are set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from landscape.dynamics.runs import Run
from landscape.dynamics.summary import initial_fraction_target
from landscape.errors import LandscapeError


@dataclass(frozen=True)
class CompareConfig:
    """Settings of a comparison (stored in ``compare.h5``).

    Attributes:
        train_target: training-loss level for convergence speed (``None``: ``target_loss``,
            else ``target_fraction`` times the median initial training loss).
        val_target: validation-loss level (``None``: as for the training loss).
        target_loss: one level for both targets (``None``: see ``target_fraction``).
        target_fraction: the default targets are this fraction of the runs' median
            initial loss.
        matched_loss: training-loss level at which sharpness is compared (``None``: the
            largest of the runs' lowest training losses at the measured checkpoints).
        curvature_samples: training rows the Hessian is measured on (the first rows
            of the run's training data; all of them when the split is smaller).
        sharpness_batches: disjoint sub-samples of those rows whose λ_max at the last
            checkpoint gives λ_max's batch-means standard error (0: none).
        max_checkpoints: at most this many epoch checkpoints per run get curvature
            (evenly spaced, first and last always included).
        trace_probes: Hutchinson probe vectors for the final trace.
        spectrum_k: top Hessian eigenvalues at each run's last checkpoint (0: none).
        density_runs: SLQ start vectors of the spectral density there (0: no density).
        density_steps: Lanczos steps per SLQ run.
        tol: relative residual tolerance of Lanczos.
        profile_grid: grid of the 1D profile (``START:STOP:NUM``).
        profile_radius: ``α`` at which the profile's rise is read.
        profile_samples: rows per split for the profile (``None``: as trained).
        edge_fraction: a stability ratio at least this counts as at the edge of stability.
        edge_records: consecutive records at the edge that make a sustained stretch.
        plane_resolution: grid points per axis of the training-loss surface under the
            paths on the shared plane (0: paths only).
        plane_samples: training rows of that surface (``None``: as trained).
        seed: seed of Lanczos starts, trace probes and profile directions.

    """

    train_target: float | None = None
    val_target: float | None = None
    target_loss: float | None = None
    target_fraction: float = 0.5
    matched_loss: float | None = None
    curvature_samples: int = 1000
    sharpness_batches: int = 4
    max_checkpoints: int = 20
    trace_probes: int = 50
    spectrum_k: int = 3
    density_runs: int = 2
    density_steps: int = 30
    tol: float = 1e-2
    profile_grid: str = "-1:1:21"
    profile_radius: float = 0.5
    profile_samples: int | None = None
    edge_fraction: float = 0.9
    edge_records: int = 3
    plane_resolution: int = 0
    plane_samples: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("curvature_samples", "max_checkpoints"):
            if getattr(self, name) < 2:
                raise LandscapeError(
                    f"{name.replace('_', '-')}: expected an integer >= 2 "
                    f"(got {getattr(self, name)})"
                )
        if self.trace_probes < 2:
            raise LandscapeError(
                f"trace-probes: expected an integer >= 2 (got {self.trace_probes})"
            )
        if self.plane_resolution == 1 or self.plane_resolution < 0:
            raise LandscapeError(
                f"plane-resolution: expected 0 (no surface) or >= 2 (got {self.plane_resolution})"
            )
        if self.sharpness_batches < 0 or self.sharpness_batches == 1:
            raise LandscapeError(
                f"sharpness-batches: expected 0 or an integer >= 2 (got {self.sharpness_batches})"
            )
        if (
            min(self.spectrum_k, self.density_runs) < 0
            or min(self.density_steps, self.edge_records) < 1
        ):
            raise LandscapeError(
                "compare: expected spectrum-k >= 0, density-runs >= 0, density-steps >= 1 and "
                f"edge-records >= 1 (got {self.spectrum_k}, {self.density_runs}, "
                f"{self.density_steps}, {self.edge_records})"
            )
        if not 0 < self.target_fraction < 1:
            raise LandscapeError(
                f"target-fraction: expected a number in (0, 1) (got {self.target_fraction})"
            )
        if not (self.tol > 0 and self.profile_radius > 0 and 0 < self.edge_fraction <= 1):
            raise LandscapeError(
                "compare: expected tol > 0, profile-radius > 0 and 0 < edge-fraction <= 1 "
                f"(got {self.tol}, {self.profile_radius}, {self.edge_fraction})"
            )

    def curvature_config(self) -> dict[str, Any]:
        """Return the settings that shape the cached curvature."""
        return {
            k: getattr(self, k)
            for k in (
                "curvature_samples",
                "sharpness_batches",
                "max_checkpoints",
                "trace_probes",
                "spectrum_k",
                "density_runs",
                "density_steps",
                "tol",
                "seed",
            )
        }

    def targets(self, runs: Sequence[Run]) -> tuple[float, float, str]:
        """The training and validation targets for these runs, and how they were set."""
        values, how = [], []
        for given, key, words in (
            (self.train_target, "train_loss", "training"),
            (self.val_target, "val_loss", "validation"),
        ):
            level = given if given is not None else self.target_loss
            if level is not None:
                values.append(float(level))
                how.append(f"{words} {float(level):.4g}, set by the user")
                continue
            values.append(
                initial_fraction_target([r.epochs[key] for r in runs], self.target_fraction)
            )
            how.append(
                f"{words} {values[-1]:.4g} = {self.target_fraction:g} x the runs' median "
                f"initial {words} loss"
            )
        return values[0], values[1], "; ".join(how)
