"""Sharpness against the stability threshold over steps (numpy and matplotlib only).

The figure of Cohen et al. 2021 (Fig. 1) and 2022: the top Hessian eigenvalue λ_max, and
for adaptive optimizers the preconditioned λ_max, recorded by ``landscape train
--track-sharpness``, drawn over optimizer steps against the optimizer's stability threshold
(2/η for gradient descent, 38/η for Adam with β1 = 0.9), with the edge-of-stability
stretches of the diagnosis shaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from landscape.dynamics.diagnose import diagnose
from landscape.dynamics.runs import read_run
from landscape.errors import LandscapeError
from landscape.plotting.style import COLORS, HEIGHTS, WIDTHS, Width, style_context


def plot_sharpness(
    run_dir: str | Path, *, width: Width = "single", height: float | None = None
) -> Figure:
    """``landscape plot RUN --kind sharpness``: λ_max (and preconditioned λ_max) over steps.

    Raises:
        LandscapeError: if the run recorded no sharpness probe.

    """
    run = read_run(run_dir)
    probes = run.probes
    if "lambda_max" not in probes or not probes["lambda_max"].size:
        raise LandscapeError(
            f"{run_dir}: no sharpness recorded; train with --track-sharpness every=N"
        )
    if width not in WIDTHS:
        raise LandscapeError(f"width: expected single or double (got {width!r})")
    steps = probes["step"]
    threshold = probes.get("stability_threshold", np.full(steps.shape, np.nan))
    precond = probes.get("precond_lambda_max")
    adaptive = precond is not None and bool(np.isfinite(precond).any())
    diagnosis = diagnose(run)
    ends = run.epochs["step"]
    with style_context():
        fig = Figure(figsize=(WIDTHS[width], height or HEIGHTS[width]), layout="constrained")
        ax = fig.subplots()
        ax.plot(steps, probes["lambda_max"], color=COLORS[0], label="λ_max")
        if adaptive:
            ax.plot(steps, precond, color=COLORS[1], label="preconditioned λ_max")
        label = "stability threshold" + (" (preconditioned)" if adaptive else " 2/η")
        ax.plot(steps, threshold, color="0.3", linestyle="--", label=label)
        for f in diagnosis.findings:
            if f.kind != "edge of stability":
                continue
            first = ends[max(f.start_epoch - 1, 0)]
            last = ends[min(f.end_epoch if f.end_epoch is not None else -1, len(ends) - 1)]
            ax.axvspan(first, last, color="0.9", zorder=0, linewidth=0)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("sharpness")
        ax.set_yscale("log" if np.nanmin(probes["lambda_max"]) > 0 else "linear")
        ax.legend(fontsize=6, loc="best")
        fig.suptitle(f"{run.name}: {run.optimizer}, lr {run.hparams.get('lr', float('nan')):g}")
    return fig
