"""A short explanation in plain words, generated only from the measured numbers.

Every sentence is a pure function of a few numbers per run (given as
``{label: value}`` mappings), so each can be tested on synthetic runs with
known properties; :func:`explain` applies them all to a comparison. A
sentence that has nothing to say (no run reached the target, a single run)
returns ``None`` and is left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from landscape.dynamics.diagnose import Finding
from landscape.records import Comparison, RunSummary

SIMILAR = 1.2
"""Ratios below this count as "similar" (sharpness, distance)."""

UNSTABLE_KINDS = ("divergence", "exploding gradients")


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _finite(values: Mapping[str, float]) -> dict[str, float]:
    return {k: v for k, v in values.items() if v is not None and math.isfinite(v)}


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def convergence_sentence(
    epochs_to_target: Mapping[str, int | None],
    steps_to_target: Mapping[str, int | None],
    *,
    target: float,
    split: str,
    total_epochs: Mapping[str, int],
) -> str | None:
    """Who reached a loss target first, when, and who never did.

    >>> print(convergence_sentence({"A": 3, "B": None}, {"A": 90, "B": None}, target=1.0,
    ...       split="validation", total_epochs={"A": 10, "B": 10}))
    ... # doctest: +NORMALIZE_WHITESPACE
    A reached the validation-loss target 1 first, at epoch 3 (90 steps); B did not reach it
    within 10 epochs.
    """
    reached = {k: v for k, v in epochs_to_target.items() if v is not None}
    if not math.isfinite(target) or not epochs_to_target:
        return None
    missed = [k for k, v in epochs_to_target.items() if v is None]
    miss = ""
    if missed:
        longest = max(total_epochs[k] for k in missed)
        miss = f"{_join(missed)} did not reach it within {longest} epochs."
    if not reached:
        return f"No run reached the {split}-loss target {_fmt(target)}: {miss}"
    order = sorted(reached, key=lambda k: (reached[k], steps_to_target[k] or 0))
    first = [k for k in order if reached[k] == reached[order[0]]]
    if len(first) == 1:
        text = (
            f"{first[0]} reached the {split}-loss target {_fmt(target)} first, at epoch "
            f"{reached[first[0]]} ({steps_to_target[first[0]]} steps)"
        )
    else:
        text = (
            f"{_join(first)} reached the {split}-loss target {_fmt(target)} first, together "
            f"at epoch {reached[first[0]]}"
        )
    rest = [f"{k} at epoch {reached[k]}" for k in order[len(first) :]]
    if rest:
        text += f", then {_join(rest)}"
    return text + (f"; {miss}" if miss else ".")


def sharpness_sentence(lambda_max: Mapping[str, float]) -> str | None:
    """Which final minimum is sharpest (largest λ_max), and by how much over the flattest.

    >>> print(sharpness_sentence({"SGD": 40.0, "Adam": 10.0}))  # doctest: +NORMALIZE_WHITESPACE
    The sharpest final minimum is SGD's (λ_max = 40), 4 times that of the flattest, Adam's
    (λ_max = 10).
    """
    lam = _finite(lambda_max)
    if len(lam) < 2:
        return None
    sharp, flat = max(lam, key=lam.__getitem__), min(lam, key=lam.__getitem__)
    if lam[flat] <= 0 or lam[sharp] / lam[flat] < SIMILAR:
        return (
            f"All final minima are about equally sharp (λ_max between {_fmt(lam[flat])} "
            f"and {_fmt(lam[sharp])})."
        )
    return (
        f"The sharpest final minimum is {sharp}'s (λ_max = {_fmt(lam[sharp])}), "
        f"{_fmt(lam[sharp] / lam[flat])} times that of the flattest, {flat}'s "
        f"(λ_max = {_fmt(lam[flat])})."
    )


def instability_sentences(findings: Mapping[str, Sequence[Finding]]) -> list[str]:
    """Where a run went unstable (divergence, exploding gradients) and at which epoch.

    >>> f = Finding("divergence", 4, None, "loss reached non-finite")
    >>> print(*instability_sentences({"RMSprop": [f], "Adam": []}))
    RMSprop went unstable at epoch 4: divergence (loss reached non-finite).
    """
    out = []
    for label, found in findings.items():
        bad = sorted((f for f in found if f.kind in UNSTABLE_KINDS), key=lambda f: f.start_epoch)
        if bad:
            f = bad[0]
            out.append(f"{label} went unstable at epoch {f.start_epoch}: {f.kind} ({f.detail}).")
    return out


def edge_sentences(
    edge_epoch: Mapping[str, int | None],
    max_ratio: Mapping[str, float],
    *,
    fraction: float,
) -> list[str]:
    """Name the runs that reached the edge of stability (sharpness near the threshold), and when.

    The ratio is the optimizer's sharpness (preconditioned for adaptive
    methods) over its stability threshold, e.g. ``λ_max / (2/η)`` for SGD
    (Cohen et al. 2021, 2022).

    >>> print(*edge_sentences({"SGD": 5, "Adam": None}, {"SGD": 1.02, "Adam": 0.1},
    ...       fraction=0.9))  # doctest: +NORMALIZE_WHITESPACE
    SGD reached the edge of stability in epoch 5: its sharpness reached 0.9 times its
    optimizer's stability threshold and peaked at 1.02 times it.
    """
    out = []
    for label, epoch in edge_epoch.items():
        if epoch is None:
            continue
        ratio = max_ratio.get(label, float("nan"))
        out.append(
            f"{label} reached the edge of stability in epoch {epoch}: its sharpness reached "
            f"{_fmt(fraction)} times its optimizer's stability threshold and peaked at "
            f"{_fmt(ratio)} times it."
        )
    if not out and _finite(max_ratio):
        ratios = _finite(max_ratio)
        top = max(ratios, key=ratios.__getitem__)
        out.append(
            f"No run came within {_fmt(fraction)} of its stability threshold; the closest was "
            f"{top} at {_fmt(ratios[top])} of it."
        )
    return out


def overfitting_sentences(findings: Mapping[str, Sequence[Finding]]) -> list[str]:
    """Name the runs whose validation loss rose while their training loss kept falling.

    >>> f = Finding("overfitting", 7, None, "validation loss rose from 0.9 to 1.2")
    >>> overfitting_sentences({"Adam": [f]})
    ['Adam overfits from epoch 7: validation loss rose from 0.9 to 1.2.']
    """
    return [
        f"{label} overfits from epoch {f.start_epoch}: {f.detail}."
        for label, found in findings.items()
        for f in found
        if f.kind == "overfitting"
    ]


def gap_sentence(loss_gap: Mapping[str, float]) -> str | None:
    """Largest and smallest generalization gap (validation minus training loss at the end).

    >>> print(gap_sentence({"A": 0.5, "B": 0.1, "C": 0.2}))  # doctest: +NORMALIZE_WHITESPACE
    The generalization gap (final validation minus training loss) is largest for A (0.5) and
    smallest for B (0.1).
    """
    gap = _finite(loss_gap)
    if len(gap) < 2:
        return None
    big, small = max(gap, key=gap.__getitem__), min(gap, key=gap.__getitem__)
    return (
        f"The generalization gap (final validation minus training loss) is largest for {big} "
        f"({_fmt(gap[big])}) and smallest for {small} ({_fmt(gap[small])})."
    )


def best_sentence(
    final_val_loss: Mapping[str, float], final_val_acc: Mapping[str, float]
) -> str | None:
    """Which run ends with the lowest validation loss, and its accuracy.

    >>> best_sentence({"A": 0.8, "B": 1.1}, {"A": 0.71, "B": 0.6})
    'A ends with the lowest validation loss, 0.8 (validation accuracy 71.0%).'
    """
    loss = _finite(final_val_loss)
    if not loss:
        return None
    best = min(loss, key=loss.__getitem__)
    acc = final_val_acc.get(best, float("nan"))
    tail = f" (validation accuracy {100 * acc:.1f}%)" if math.isfinite(acc) else ""
    return f"{best} ends with the lowest validation loss, {_fmt(loss[best])}{tail}."


def distance_sentence(
    distance_from_init: Mapping[str, float], travelled: Mapping[str, float]
) -> str | None:
    """Who moved farthest from its initialization, and how straight the path was.

    >>> d0, path = {"A": 10.0, "B": 2.0}, {"A": 20.0, "B": 2.0}
    >>> print(distance_sentence(d0, path))  # doctest: +NORMALIZE_WHITESPACE
    A ended farthest from its initialization (‖w_T − w_0‖ = 10, along a path of length 20), B
    the closest (2).
    """
    d = _finite(distance_from_init)
    if len(d) < 2:
        return None
    far, near = max(d, key=d.__getitem__), min(d, key=d.__getitem__)
    if d[near] > 0 and d[far] / d[near] < SIMILAR:
        return (
            "All runs ended about equally far from their initialization "
            f"(‖w_T − w_0‖ ≈ {_fmt(d[far])})."
        )
    path = travelled.get(far, float("nan"))
    along = f", along a path of length {_fmt(path)}" if math.isfinite(path) else ""
    return (
        f"{far} ended farthest from its initialization (‖w_T − w_0‖ = {_fmt(d[far])}{along}), "
        f"{near} the closest ({_fmt(d[near])})."
    )


def explain_summaries(
    summaries: Sequence[RunSummary],
    *,
    train_target: float,
    val_target: float,
    edge_fraction: float = 0.9,
) -> list[str]:
    """Every sentence that applies to these runs, in reading order.

    Args:
        summaries: the runs' numbers (labels name them in the sentences).
        train_target: training-loss target of the convergence measure.
        val_target: validation-loss target of it.
        edge_fraction: the stability ratio that counts as the edge of stability.

    """
    labels = [s.label for s in summaries]
    keys = labels if len(set(labels)) == len(labels) else [s.name for s in summaries]
    by = dict(zip(keys, summaries, strict=True))
    total = {k: s.epochs for k, s in by.items()}
    findings = {k: s.findings for k, s in by.items()}
    sentences = [
        convergence_sentence(
            {k: s.epochs_to_val_target for k, s in by.items()},
            {k: s.steps_to_val_target for k, s in by.items()},
            target=val_target,
            split="validation",
            total_epochs=total,
        ),
        convergence_sentence(
            {k: s.epochs_to_train_target for k, s in by.items()},
            {k: s.steps_to_train_target for k, s in by.items()},
            target=train_target,
            split="training",
            total_epochs=total,
        ),
        best_sentence(
            {k: s.final_val_loss for k, s in by.items()},
            {k: s.final_val_acc for k, s in by.items()},
        ),
        gap_sentence({k: s.loss_gap for k, s in by.items()}),
        *overfitting_sentences(findings),
        sharpness_sentence({k: s.lambda_max for k, s in by.items()}),
        *instability_sentences(findings),
        *edge_sentences(
            {k: s.edge_epoch for k, s in by.items()},
            {k: s.max_stability_ratio for k, s in by.items()},
            fraction=edge_fraction,
        ),
        distance_sentence(
            {k: s.distance_from_init for k, s in by.items()},
            {k: s.distance_travelled for k, s in by.items()},
        ),
    ]
    return [s for s in sentences if s]


def explain(comparison: Comparison) -> list[str]:
    """Explain a stored comparison (see :func:`explain_summaries`)."""
    return explain_summaries(
        [r.summary for r in comparison.runs],
        train_target=comparison.train_target,
        val_target=comparison.val_target,
        edge_fraction=float(comparison.config.get("edge_fraction", 0.9)),
    )
