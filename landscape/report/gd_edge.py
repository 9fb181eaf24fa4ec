"""The report's edge-of-stability sentences for a full-batch gradient-descent run.

Cohen et al. 2021 ("Gradient descent on neural networks typically occurs at the edge of
stability"): under full-batch gradient descent with step size η, the top Hessian
eigenvalue λ_max rises during training (progressive sharpening) until it reaches 2/η, the
largest curvature on which a step of η is stable on the local quadratic, and then hovers
there while the loss keeps falling, non-monotonically. The sentences state each part with
the run's own numbers: λ_max at step 0 and the threshold, the first probe at the edge,
the longest stretch at the edge (:func:`landscape.dynamics.stability.edge_stretches`, the
band the diagnosis uses) and how often the full-batch loss rose from one step to the next
after the edge was reached.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landscape.dynamics.runs import read_run
from landscape.dynamics.stability import edge_stretches
from landscape.errors import LandscapeError

BAND = 0.1
"""A probe within this fraction below the threshold counts as at the edge (as the diagnosis)."""


def edge_sentences(run_dir: str | Path) -> tuple[str, ...]:
    """What the sharpness probe of a gradient-descent run shows, in sentences with its numbers.

    Raises:
        LandscapeError: if the run recorded no sharpness probe.

    """
    run = read_run(run_dir)
    p = run.probes
    if "lambda_max" not in p or not p["lambda_max"].size:
        raise LandscapeError(f"{run_dir}: no sharpness recorded (train with --track-sharpness)")
    steps, lam, thr = p["step"], p["lambda_max"], p["stability_threshold"]
    ratio = lam / thr
    c = run.config
    batch = "full-batch" if c.get("batch_size") is None else f"batch {c['batch_size']}"
    head = (
        f"{run.name} ({batch} gradient descent, η = {c['lr']:g}, loss {c.get('loss')}): "
        f"λ_max was {lam[0]:.3g} at step 0, {ratio[0]:.2f} times 2/η = {thr[0]:.3g}"
    )
    at = np.flatnonzero(ratio >= 1 - BAND)
    if not at.size:
        return (
            f"{head}; it peaked at {np.nanmax(lam):.3g} ({np.nanmax(ratio):.2f} times 2/η) and "
            f"did not reach the edge of stability within {int(steps[-1])} steps.",
        )
    first = int(at[0])
    out = [
        f"{head}; it first reached {1 - BAND:.0%} of 2/η at step {int(steps[first])}"
        + (" (progressive sharpening)." if first > 0 else " (already at the start).")
    ]
    stretches = edge_stretches(lam, thr, band=BAND)
    if stretches:
        s = max(stretches, key=lambda e: e.records)
        after = int(np.count_nonzero(np.isfinite(ratio[first:])))
        out.append(
            f"From there λ_max stayed at or above {1 - BAND:.0%} of 2/η in "
            f"{at.size} of the {after} probes, longest over steps "
            f"{int(steps[s.start])}-{int(steps[s.end])} ({s.records} probes, median ratio "
            f"{s.median_ratio:.3g}): the edge of stability (Cohen et al. 2021), not a minimum."
        )
    loss, lstep = run.steps["loss"], run.steps["step"]
    tail = loss[lstep >= steps[first]]
    rises = int(np.count_nonzero(np.diff(tail) > 0))
    out.append(
        f"The full-batch training loss fell from {loss[0]:.3g} at step 1 to {loss[-1]:.3g} at "
        f"step {int(lstep[-1])}, not monotonically: it rose at {rises} of the "
        f"{max(tail.size - 1, 0)} steps after step {int(steps[first])}."
    )
    return tuple(out)
