"""The "In short" section: plain sentences that rest on the findings, never on two means.

Every comparative sentence reads the claims of :mod:`landscape.report.findings` (Welch's
t-test over seeds, Holm-controlled over the report's family of pairwise comparisons): a
difference is named only when it is significant, with its interval and adjusted p-value;
otherwise the sentence says there is no clear difference; with one run per contender it
says that no test is possible (n=1) and ranks nothing. Sharpness sentences name the
sample λ_max was measured on. The edge of stability is judged on sustained stretches of
the sharpness at its threshold (:func:`landscape.dynamics.summary.edge_time`), never on a
single record, and an adaptive method's step 0, where its preconditioner is undefined, is
left out. Each sentence builder is a pure function of claims and summaries, so it can be
tested on synthetic numbers; :func:`explain` applies them all to a comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from landscape.dynamics.diagnose import Finding
from landscape.io.compare import read_stored_findings
from landscape.records import Claim, Comparison, RunSummary
from landscape.records.optimizers import ADAPTIVE
from landscape.report.claims import estimate_text, fmt
from landscape.report.findings import ALPHA, comparison_claims, curvature_sample
from landscape.stats import LEVEL

UNSTABLE_KINDS = ("divergence", "exploding gradients")
TEST = "Welch t-test over seeds, Holm-adjusted"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _family(claims: Sequence[Claim]) -> int:
    return sum(1 for c in claims if len(c.runs) == 2 and math.isfinite(c.p_value))


def _values(claims: Sequence[Claim], quantity: str) -> str:
    """Each contender's mean with its interval, e.g. ``A 1.2 (95% CI 1.1 to 1.3), B 2``."""
    out = [
        f"{c.runs[0]} {estimate_text(c)}"
        for c in claims
        if c.quantity == quantity and len(c.runs) == 1
    ]
    return ", ".join(out)


def _oriented(c: Claim) -> tuple[str, str, float, float, float]:
    """``(higher, lower, difference, ci_low, ci_high)`` of a difference claim."""
    a, b = c.runs
    if c.estimate >= 0:
        return a, b, c.estimate, c.ci_low, c.ci_high
    return b, a, -c.estimate, -c.ci_high, -c.ci_low


def comparative_sentence(
    claims: Sequence[Claim],
    quantity: str,
    words: str,
    seeds: Mapping[str, int],
    *,
    sample: str = "",
) -> str | None:
    """One sentence on ``quantity`` across contenders, resting on its difference claims.

    Args:
        claims: The report's claims (estimates and Holm-adjusted differences).
        quantity: The quantity's key.
        words: How the sentence names it.
        seeds: Runs per contender (a single run is ``1``).
        sample: What the quantity was measured on, named in the sentence.

    Returns:
        The sentence; ``None`` without a difference claim on ``quantity`` (one contender).

    >>> from landscape.report.claims import Quantity, group_claims
    >>> q = Quantity("loss", "final loss", "lower", "Table 1")
    >>> same = group_claims({"loss": {"A": [1.0, 1.1, 0.9], "B": [1.05, 1.0, 0.95]}}, [q])
    >>> print(comparative_sentence(same, "loss", "final loss", {"A": 3, "B": 3}))
    ... # doctest: +NORMALIZE_WHITESPACE
    No clear difference in final loss between any two contenders (Welch t-test over seeds,
    Holm-adjusted over 1 comparison): A 1 (95% CI 0.752 to 1.25), B 1 (95% CI 0.876 to 1.12).
    >>> one = group_claims({"loss": {"A": [1.0], "B": [2.0]}}, [q])
    >>> print(comparative_sentence(one, "loss", "final loss", {"A": 1, "B": 1}))
    ... # doctest: +NORMALIZE_WHITESPACE
    The final loss cannot be ranked: with one run per contender (n=1) no difference can be
    tested (A 1, B 2).
    """
    diffs = [c for c in claims if c.quantity == quantity and len(c.runs) == 2]
    if not diffs:
        return None
    on = f"; on {sample}" if sample else ""
    values = _values(claims, quantity)
    testable = [d for d in diffs if math.isfinite(d.p_value)]
    if not testable:
        if all(n == 1 for n in seeds.values()):
            return (
                f"The {words} cannot be ranked: with one run per contender (n=1) no difference "
                f"can be tested ({values}{on})."
            )
        return (
            f"The {words} cannot be compared by a test: it needs at least two seeds with spread "
            f"in each ({values}{on})."
        )
    family = _family(claims)
    test = f"{TEST} over {family} comparison{'s' if family != 1 else ''}"
    significant = [d for d in testable if d.significant]
    if not significant:
        return f"No clear difference in {words} between any two contenders ({test}{on}): {values}."
    parts = []
    for d in significant:
        hi, lo, delta, low, high = _oriented(d)
        parts.append(
            f"{hi}'s is higher than {lo}'s by {fmt(delta)} ({LEVEL:.0%} CI {fmt(low)} to "
            f"{fmt(high)}, p = {d.p_value:.3g})"
        )
    rest = len(diffs) - len(significant)
    others = (
        f"; no clear difference in the other {rest} pair{'s' if rest != 1 else ''}" if rest else ""
    )
    return f"The {words} differs: {'; '.join(parts)}{others} ({test}{on}; {values})."


def convergence_sentence(
    claims: Sequence[Claim],
    runs: Mapping[str, Sequence[RunSummary]],
    *,
    split: str,
    target: float,
) -> str | None:
    """Who reached a loss target, and whether the epochs to it differ under the test.

    The epochs to the target are compared only when every run reached it; otherwise the
    sentence counts the runs of each contender that did.
    """
    if not math.isfinite(target) or not runs:
        return None
    key = "train" if split == "training" else "val"
    field = f"epochs_to_{key}_target"
    reached = {
        label: sum(getattr(s, field) is not None for s in seeds) for label, seeds in runs.items()
    }
    longest = max(s.epochs for seeds in runs.values() for s in seeds)
    name = f"the {split}-loss target {fmt(target)}"
    if not any(reached.values()):
        return f"No run reached {name} within {longest} epochs."
    if all(reached[k] == len(v) for k, v in runs.items()):
        return comparative_sentence(
            claims,
            field,
            f"epochs to {name}",
            {k: len(v) for k, v in runs.items()},
        )
    counts = [
        f"{k} in {reached[k]} of {len(v)} run{'s' if len(v) != 1 else ''}" for k, v in runs.items()
    ]
    return (
        f"Not every run reached {name} within {longest} epochs ({_join(counts)}), so the epochs "
        "to it are not compared by a test."
    )


def edge_sentences(
    claims: Sequence[Claim],
    runs: Mapping[str, Sequence[RunSummary]],
    *,
    fraction: float,
    records: int,
) -> list[str]:
    """When and for how long each contender sat at the edge of stability, and the test.

    The rule (Cohen et al. 2021, 2022): the optimizer's sharpness (λ_max for SGD,
    preconditioned λ_max for adaptive methods, left out at step 0) stays at or above
    ``fraction`` times its stability threshold for at least ``records`` consecutive records.

    >>> import types
    >>> s = types.SimpleNamespace(label="SGD", optimizer="sgd", edge_epoch=3, edge_end_epoch=9,
    ...     edge_steps=120, edge_epochs=6.0, edge_share=0.6, edge_median_ratio=1.02)
    >>> print(*edge_sentences([], {"SGD": [s]}, fraction=0.9, records=3))
    ... # doctest: +NORMALIZE_WHITESPACE
    SGD sat at the edge of stability over epochs 3-9: its λ_max stayed at or above 0.9 times its
    stability threshold for 120 steps (6 epochs, 60% of training; median ratio 1.02).
    """
    rule = (
        f"{fmt(fraction)} times the stability threshold for at least {records} consecutive records"
    )
    measured = {k: v for k, v in runs.items() if any(math.isfinite(s.edge_share) for s in v)}
    if not measured:
        return []
    out = []
    for label, seeds in measured.items():
        at = [s for s in seeds if s.edge_epoch is not None]
        if not at:
            continue
        measure = "preconditioned λ_max" if seeds[0].optimizer in ADAPTIVE else "λ_max"
        if len(seeds) == 1:
            s = at[0]
            out.append(
                f"{label} sat at the edge of stability over epochs {s.edge_epoch}-"
                f"{s.edge_end_epoch}: its {measure} stayed at or above {fmt(fraction)} times its "
                f"stability threshold for {s.edge_steps} steps ({fmt(s.edge_epochs)} epochs, "
                f"{s.edge_share:.0%} of training; median ratio {fmt(s.edge_median_ratio)})."
            )
            continue
        estimate = next(
            (c for c in claims if c.quantity == "edge_share" and c.runs == (label,)), None
        )
        share = (
            f"; share of training at the edge {estimate.statement.split(': ', 1)[1]}"
            if estimate
            else "."
        )
        out.append(
            f"{label} sat at the edge of stability ({measure} at or above {rule}) in {len(at)} "
            f"of {len(seeds)} runs{share}"
        )
    if not out:
        return [f"No run sat at the edge of stability (sharpness at or above {rule})."]
    ranked = comparative_sentence(
        claims,
        "edge_share",
        "share of training at the edge of stability",
        {k: len(v) for k, v in runs.items()},
    )
    return out + ([ranked] if ranked else [])


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


COMPARED = (
    ("final_val_loss", "final validation loss"),
    ("final_train_loss", "final training loss"),
    ("loss_gap", "generalization gap (final validation minus training loss)"),
    ("lambda_max", "final λ_max"),
    ("lambda_max_matched", "λ_max at the matched training loss"),
    ("weight_norm", "final weight norm ‖w_T‖"),
    ("distance_from_init", "distance from initialization ‖w_T − w_0‖"),
)
"""The quantities of "In short", in reading order, with their words."""


def explain_claims(
    summaries: Sequence[RunSummary],
    claims: Sequence[Claim],
    contenders: Mapping[str, Sequence[str]],
    *,
    train_target: float,
    val_target: float,
    matched_loss: float = math.nan,
    edge_fraction: float = 0.9,
    edge_records: int = 3,
) -> list[str]:
    """Every sentence that applies to these runs, in reading order.

    Args:
        summaries: Every run's numbers.
        claims: The findings about them (:func:`~landscape.report.findings.comparison_claims`).
        contenders: The run names behind each contender label.
        train_target: Training-loss target of the convergence measure.
        val_target: Validation-loss target of it.
        matched_loss: The training-loss level at which λ_max is also compared.
        edge_fraction: The stability ratio that counts as the edge of stability.
        edge_records: Consecutive records at the edge that make a sustained stretch.
    """
    by_name = {s.name: s for s in summaries}
    runs = {label: [by_name[n] for n in names] for label, names in contenders.items()}
    seeds = {k: len(v) for k, v in runs.items()}
    sample = curvature_sample(summaries)
    matched = (
        f"the matched training loss {fmt(matched_loss)} (each run's first measured "
        "checkpoint at or below it)"
        if math.isfinite(matched_loss)
        else ""
    )
    labels = [s.label for s in summaries]
    keys = labels if len(set(labels)) == len(labels) else [s.name for s in summaries]
    findings = {k: s.findings for k, s in zip(keys, summaries, strict=True)}
    sentences: list[str | None] = [
        convergence_sentence(claims, runs, split="validation", target=val_target),
        convergence_sentence(claims, runs, split="training", target=train_target),
    ]
    for key, words in COMPARED:
        on = sample if key.startswith("lambda_max") else ""
        if key == "lambda_max_matched":
            words = f"λ_max at {matched}" if matched else words
        sentences.append(comparative_sentence(claims, key, words, seeds, sample=on))
    sentences += overfitting_sentences(findings)
    sentences += instability_sentences(findings)
    sentences += edge_sentences(claims, runs, fraction=edge_fraction, records=edge_records)
    return [s for s in sentences if s]


def explain(comparison: Comparison) -> list[str]:
    """Explain a comparison from the findings stored in its ``compare.h5``.

    A comparison without stored findings (built in memory) gets them computed here, each
    run its own contender.
    """
    summaries = [r.summary for r in comparison.runs]
    stored = read_stored_findings(comparison.path)
    if stored is not None and stored.contenders:
        claims, contenders = list(stored.claims), dict(stored.contenders)
    else:
        labels = [s.label for s in summaries]
        keys = labels if len(set(labels)) == len(labels) else [s.name for s in summaries]
        contenders = {k: (s.name,) for k, s in zip(keys, summaries, strict=True)}
        claims = comparison_claims({s.name: s for s in summaries}, contenders, alpha=ALPHA)
    setup = targets_sentence(comparison.targets, comparison.matched_loss)
    return [
        *([setup] if setup else []),
        *explain_claims(
            summaries,
            claims,
            contenders,
            train_target=comparison.train_target,
            val_target=comparison.val_target,
            matched_loss=comparison.matched_loss,
            edge_fraction=float(comparison.config.get("edge_fraction", 0.9)),
            edge_records=int(comparison.config.get("edge_records", 3)),
        ),
    ]


def targets_sentence(targets: str, matched_loss: float) -> str | None:
    """How the convergence targets and the matched training loss were set.

    >>> print(targets_sentence("training 1.15 = 0.5 x the runs' median initial training loss",
    ...       0.8))  # doctest: +NORMALIZE_WHITESPACE
    Convergence targets: training 1.15 = 0.5 x the runs' median initial training loss. λ_max is
    compared at the end and at the matched training loss 0.8.
    """
    parts = [f"Convergence targets: {targets}." if targets else ""]
    if math.isfinite(matched_loss):
        parts.append(
            f"λ_max is compared at the end and at the matched training loss {fmt(matched_loss)}."
        )
    text = " ".join(p for p in parts if p)
    return text or None
