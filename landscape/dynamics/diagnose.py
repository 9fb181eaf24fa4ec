"""Name what happened in a training run from its recorded curves.

Every detector is a small function of numpy arrays and the :class:`Thresholds`
(their defaults stated once, there), so each can be checked on a synthetic curve
with a known answer:

- :func:`detect_phases`: fast initial learning, gradual adjustment and
  convergence, with the epoch each begins;
- :func:`detect_overfitting`: validation loss rising while training loss falls;
- :func:`detect_exploding_gradients`: a non-finite or suddenly grown gradient norm;
- :func:`detect_vanishing_gradients`: per-layer gradient norms collapsing toward
  the input layers;
- :func:`detect_divergence`: the loss leaving its starting value for good;
- :func:`detect_plateaus`: flat stretches followed by renewed progress.

Loss-based detectors work on the running minimum ``m_e = min_{k<=e} L_k`` and
measure progress as a fraction of the total improvement ``D = m_0 - m_E``.
This module uses numpy only.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landscape.dynamics.runs import GROUP, Run, run_file
from landscape.dynamics.stability import detect_edge_of_stability
from landscape.dynamics.trends import noise_level, smooth, trend
from landscape.records import Finding, Phase, PhaseName
from landscape.store import atomic_update, config_json, writer_lock


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


DEFAULTS = Thresholds()
"""The thresholds :func:`diagnose` and every detector use unless given others."""


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


def _progress(loss: np.ndarray) -> tuple[np.ndarray, float]:
    """Return the running minimum of ``loss`` (NaN ignored) and its total improvement ``D``."""
    m = np.fmin.accumulate(np.where(np.isfinite(loss), loss, np.nan))
    total = float(m[0] - m[-1]) if m.size and np.isfinite(m[0]) and np.isfinite(m[-1]) else 0.0
    return m, total


def detect_phases(
    epochs: np.ndarray, loss: np.ndarray, thresholds: Thresholds = DEFAULTS
) -> tuple[Phase, ...]:
    """Split training into fast initial learning, gradual adjustment and convergence.

    With the running minimum ``m`` and total improvement ``D = m_0 - m_E``:
    gradual adjustment begins at the first epoch ``e`` whose next epoch
    improves by less than ``fast_rate * D``; convergence begins at the first
    epoch from which the remaining improvement ``m_e - m_E`` is at most
    ``converged_tol * D``, if at least ``min_converged`` epochs remain
    (``fast_rate``, ``converged_tol``, ``min_converged`` of ``thresholds``).

    For ``L_e = exp(-e / 3)`` the next-epoch gain ``exp(-e/3) (1 - exp(-1/3))``
    first drops below 0.05 at ``e = 6`` and ``exp(-e/3) <= 0.01`` from ``e = 14``:

    >>> e = np.arange(41)
    >>> [(p.name, p.start_epoch) for p in detect_phases(e, np.exp(-e / 3))]
    [('fast initial learning', 0), ('gradual adjustment', 6), ('convergence', 14)]
    """
    fast_rate, converged_tol = thresholds.fast_rate, thresholds.converged_tol
    min_converged = thresholds.min_converged
    m, total = _progress(np.asarray(loss, dtype=np.float64))
    epochs = np.asarray(epochs)
    n = len(m)
    if n < 2 or not total > 0:
        return ()
    gain = (m[:-1] - m[1:]) / total
    remaining = (m - m[-1]) / total
    conv = next(
        (i for i in range(n) if remaining[i] <= converged_tol and n - i >= min_converged), n
    )
    slow = next((i for i in range(n - 1) if gain[i] < fast_rate), n)
    bounds: list[tuple[PhaseName, int]] = []
    if slow > 0 and conv > 0:
        bounds.append(("fast initial learning", 0))
    if slow < conv:
        bounds.append(("gradual adjustment", slow))
    if conv < n:
        bounds.append(("convergence", conv))
    ends = [i for _, i in bounds[1:]] + [n - 1]
    return tuple(
        Phase(name, int(epochs[i]), int(epochs[j]))
        for (name, i), j in zip(bounds, ends, strict=True)
    )


def detect_overfitting(
    epochs: np.ndarray,
    train_loss: np.ndarray,
    val_loss: np.ndarray,
    thresholds: Thresholds = DEFAULTS,
) -> Finding | None:
    """Find a sustained, significant rise of validation loss while training loss falls.

    With ``rise``, ``patience``, ``alpha`` and ``window`` the ``overfit_rise``,
    ``overfit_patience``, ``overfit_alpha`` and ``smooth_window`` of ``thresholds``:
    the best epoch ``e*`` is the minimum of the validation loss smoothed by a centred
    ``window``-epoch mean, among epochs with at least ``patience`` after them. Overfitting
    begins at ``e*`` when all three hold over the epochs from ``e*`` to the end:

    - the mean of the last ``patience`` validation losses exceeds the smoothed minimum by
      more than ``rise`` (relative) and by more than two standard errors of that mean,
      ``2 σ / √patience``, where ``σ`` is the curve's noise (:func:`noise_level`);
    - the validation loss has a positive least-squares slope, one-sided t-test p < ``alpha``;
    - the training loss has a negative slope, one-sided p < ``alpha``.

    A loss that oscillates (at the edge of stability, say) around a flat trend passes
    neither test, whatever its two endpoints are.

    >>> e = np.arange(31)
    >>> detect_overfitting(e, np.exp(-e / 5), 1 + (e - 10.0) ** 2 / 100).start_epoch
    10
    >>> wobble = 1 + 0.4 * (-1.0) ** e  # oscillation, no trend
    >>> detect_overfitting(e, np.exp(-e / 5), wobble) is None
    True
    """
    rise, patience = thresholds.overfit_rise, thresholds.overfit_patience
    alpha, window = thresholds.overfit_alpha, thresholds.smooth_window
    epochs, tr, va = np.asarray(epochs), np.asarray(train_loss, float), np.asarray(val_loss, float)
    ok = np.isfinite(va) & np.isfinite(tr)
    epochs, tr, va = epochs[ok], tr[ok], va[ok]
    if len(va) < patience + 3:
        return None
    smoothed = smooth(va, window)
    best = int(np.argmin(smoothed[: len(va) - patience]))
    noise = noise_level(va)
    tail = float(va[-patience:].mean())
    needed = max(rise * abs(smoothed[best]), 2.0 * noise / math.sqrt(patience))
    val_trend = trend(epochs[best:], va[best:])
    train_trend = trend(epochs[best:], tr[best:])
    if not (
        tail > smoothed[best] + needed and val_trend.p_rise < alpha and train_trend.p_fall < alpha
    ):
        return None
    return Finding(
        "overfitting",
        int(epochs[best]),
        None,
        f"validation loss rose from {smoothed[best]:.4g} (epoch {int(epochs[best])}, "
        f"{window}-epoch mean) to {tail:.4g} (mean of the last {patience} epochs), "
        f"{val_trend.slope:+.3g} per epoch (one-sided t-test p = {val_trend.p_rise:.2g}; "
        f"epoch-to-epoch noise {noise:.2g}), while training loss fell "
        f"{train_trend.slope:+.3g} per epoch (p = {train_trend.p_fall:.2g})",
    )


def detect_exploding_gradients(
    step_epochs: np.ndarray,
    steps: np.ndarray,
    grad_norm: np.ndarray,
    thresholds: Thresholds = DEFAULTS,
) -> Finding | None:
    """Find the first non-finite gradient norm, or one ``factor`` times the recent median.

    Args:
        step_epochs: the epoch each step belongs to.
        steps: step numbers.
        grad_norm: global gradient norm per step.
        thresholds: ``explode_factor`` (``factor``: growth over the median of the
            previous ``window`` steps that counts) and ``explode_window`` (``window``).

    >>> g = np.ones(100); g[60] = 50.0
    >>> detect_exploding_gradients(np.arange(100) // 10, np.arange(1, 101), g).start_epoch
    6

    """
    factor, window = thresholds.explode_factor, thresholds.explode_window
    g = np.asarray(grad_norm, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(g))
    first_bad = int(bad[0]) if bad.size else None
    jump = None
    for t in range(window, len(g) if first_bad is None else first_bad):
        ref = float(np.median(g[t - window : t]))
        if g[t] > factor * ref:
            jump = t
            break
    if jump is not None:
        detail = (
            f"gradient norm {g[jump]:.3g} at step {int(steps[jump])}, "
            f"{g[jump] / ref:.3g}x the median of the {window} steps before"
        )
        return Finding("exploding gradients", int(step_epochs[jump]), None, detail)
    if first_bad is not None:
        detail = f"non-finite gradient norm at step {int(steps[first_bad])}"
        return Finding("exploding gradients", int(step_epochs[first_bad]), None, detail)
    return None


def detect_vanishing_gradients(
    epochs: np.ndarray,
    layer_grad_norm: np.ndarray,
    layers: list[str] | tuple[str, ...],
    thresholds: Thresholds = DEFAULTS,
) -> Finding | None:
    """Find the first epoch where the first layer's gradient norm is below ``ratio`` x the last's.

    Args:
        epochs: epoch numbers, one per row.
        layer_grad_norm: ``(epochs, layers)`` gradient norms, input side first
            (pass weight matrices and kernels only: biases are left out by callers).
        layers: names of the columns.
        thresholds: ``vanish_ratio`` (``ratio``) is the collapse that counts.

    >>> norms = np.array([[1.0, 1.0], [1e-2, 1.0], [1e-5, 1.0]])
    >>> detect_vanishing_gradients(np.arange(3), norms, ["l0.weight", "l1.weight"]).start_epoch
    2

    """
    ratio = thresholds.vanish_ratio
    g = np.asarray(layer_grad_norm, dtype=np.float64)
    if g.ndim != 2 or g.shape[1] < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        r = g[:, 0] / g[:, -1]
    hits = np.flatnonzero(np.isfinite(g).all(axis=1) & (r < ratio))
    if not hits.size:
        return None
    i = int(hits[0])
    return Finding(
        "vanishing gradients",
        int(epochs[i]),
        None,
        f"gradient norm of {layers[0]} is {r[i]:.2g} times that of {layers[-1]} "
        f"(threshold {ratio:g})",
    )


def detect_divergence(epochs: np.ndarray, loss: np.ndarray) -> Finding | None:
    """Find the epoch from which the loss stays non-finite or above its starting value.

    >>> detect_divergence(np.arange(6), np.array([2.0, 1.0, 0.5, 3.0, 9.0, np.nan])).start_epoch
    3
    """
    loss = np.asarray(loss, dtype=np.float64)
    if loss.size < 2 or not np.isfinite(loss[0]):
        return None
    fine = np.flatnonzero(np.isfinite(loss) & (loss <= loss[0]))
    start = int(fine[-1]) + 1
    if start >= loss.size:
        return None
    worst = (
        "non-finite" if not np.isfinite(loss[start:]).all() else f"{np.nanmax(loss[start:]):.4g}"
    )
    return Finding(
        "divergence",
        int(epochs[start]),
        None,
        f"loss left its initial {loss[0]:.4g} for good (reached {worst})",
    )


def detect_plateaus(
    epochs: np.ndarray, loss: np.ndarray, thresholds: Thresholds = DEFAULTS
) -> tuple[Finding, ...]:
    """Find flat stretches of at least ``length`` epochs that training later leaves.

    An epoch is flat when it improves the running-minimum loss by less than
    ``tol * D``; a run of flat epochs that lasts to the end is convergence, not
    a plateau (``tol`` and ``length``: ``plateau_tol`` and ``plateau_length`` of
    ``thresholds``).

    >>> loss = np.array([2.0, 1.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.1, 0.1, 0.1])
    >>> [(f.start_epoch, f.end_epoch) for f in detect_plateaus(np.arange(11), loss)]
    [(2, 6)]
    """
    tol, length = thresholds.plateau_tol, thresholds.plateau_length
    m, total = _progress(np.asarray(loss, dtype=np.float64))
    epochs = np.asarray(epochs)
    if len(m) < 2 or not total > 0:
        return ()
    flat = (m[:-1] - m[1:]) < tol * total
    found: list[Finding] = []
    i = 0
    while i < len(flat):
        if not flat[i]:
            i += 1
            continue
        j = i
        while j < len(flat) and flat[j]:
            j += 1
        if j < len(flat) and j - i >= length:
            found.append(
                Finding(
                    "plateau",
                    int(epochs[i]),
                    int(epochs[j]),
                    f"loss stayed near {m[i]:.4g} for {int(epochs[j] - epochs[i])} epochs",
                )
            )
        i = j
    return tuple(found)


def diagnose(run: Run, thresholds: Thresholds | None = None) -> Diagnosis:
    """Run every detector on a recorded run.

    The training loss is the full-split evaluation per epoch (the mean
    mini-batch loss when that is absent); vanishing gradients look at
    parameters with two or more dimensions (weights, kernels) only.
    """
    t = thresholds or DEFAULTS
    ep = run.epochs
    if "epoch" not in ep or not ep["epoch"].size:
        return Diagnosis((), (), t)
    epochs = ep["epoch"]
    loss = ep["train_loss"]
    if not np.isfinite(loss).any():
        loss = ep["mean_step_loss"]
    findings: list[Finding] = []
    found = [
        detect_divergence(epochs, loss),
        detect_overfitting(epochs, loss, ep["val_loss"], t),
    ]
    if "grad_norm" in run.steps:
        sampled = run.steps["step"] % run.grad_every == 0
        st = {k: v[sampled] for k, v in run.steps.items()}
        found.append(detect_exploding_gradients(st["epoch"], st["step"], st["grad_norm"], t))
    weights = [i for i, s in enumerate(run.shapes) if len(s) >= 2]
    if len(weights) >= 2:
        names = [run.layers[i] for i in weights]
        found.append(
            detect_vanishing_gradients(epochs, ep["layer_grad_norm"][:, weights], names, t)
        )
    findings = [f for f in found if f is not None]
    findings += detect_plateaus(epochs, loss, t)
    findings += _edge_findings(run, t)
    phases = detect_phases(epochs, loss, t)
    return Diagnosis(phases, tuple(sorted(findings, key=lambda f: f.start_epoch)), t)


def _edge_findings(run: Run, t: Thresholds) -> tuple[Finding, ...]:
    """Edge-of-stability stretches in the run's sharpness probe, if it has one.

    Adaptive optimizers are judged by their preconditioned sharpness (NaN where the
    preconditioner is undefined, e.g. before the first step), others by λ_max.
    """
    probes = run.probes
    if "lambda_max" not in probes or "stability_threshold" not in probes:
        return ()
    precond = probes.get("precond_lambda_max")
    adaptive = precond is not None and bool(np.isfinite(precond).any())
    sharpness = precond if adaptive else probes["lambda_max"]
    ends = run.epochs["step"]
    step_epochs = run.epochs["epoch"][np.searchsorted(ends, probes["step"]).clip(0, len(ends) - 1)]
    return detect_edge_of_stability(
        step_epochs,
        probes["step"],
        sharpness,
        probes["stability_threshold"],
        measure="preconditioned λ_max" if adaptive else "λ_max",
        band=t.edge_band,
        min_records=t.edge_min_records,
    )


def store_diagnosis(run_dir: str | Path, diagnosis: Diagnosis) -> None:
    """Write ``diagnosis`` into the run file as ``dynamics/diagnosis``.

    The group holds JSON attributes ``result`` (the diagnosis) and ``config``
    (its thresholds).

    Raises:
        LandscapeError: if the run is being written by another process.

    """
    path = run_file(run_dir)
    with writer_lock(path), atomic_update(path) as f:
        g = f[GROUP]
        if "diagnosis" in g:
            del g["diagnosis"]
        d = g.create_group("diagnosis")
        d.attrs["result"] = json.dumps(diagnosis.to_dict())
        d.attrs["config"] = config_json(asdict(diagnosis.thresholds))
