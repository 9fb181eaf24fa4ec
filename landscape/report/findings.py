"""The findings of a comparison: per-seed values of each contender, claims and mechanisms.

A contender is a single run or a group of runs that differ only by seed
(:mod:`landscape.io.groups`). Every quantity of :data:`QUANTITIES` is read off each run's
:class:`~landscape.records.RunSummary`, gathered per contender (one value per seed) and
handed to :func:`~landscape.report.claims.group_claims`: a mean with a Student-t interval
over seeds per contender, and Welch's t-test per pair, Holm-controlled over every pairwise
comparison of the report. The mechanism rules of :mod:`landscape.report.mechanisms` then
read those claims.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from landscape.io.compare import read_stored_findings
from landscape.records import Claim, Comparison, RunSummary
from landscape.records.optimizers import ADAPTIVE
from landscape.report.claims import Quantity, group_claims
from landscape.report.mechanisms import (
    adaptive_generalization_mechanism,
    preconditioning_mechanism,
    sharpness_gap_mechanism,
    weight_norm_mechanism,
)
from landscape.stats import LEVEL

ALPHA = 0.05
"""Family-wise error rate of the differences a report states."""

TABLE = "the table 'The numbers'"
SHARPNESS = f"{TABLE} and the sharpness figure"
SHARE = (0.0, 1.0)
"""The range of a share or an accuracy (their intervals are cut to it)."""
NONNEGATIVE = (0.0, math.inf)
"""The range of epochs, norms and distances (never negative)."""

QUANTITIES = (
    Quantity(
        "epochs_to_train_target",
        "epochs to the training-loss target",
        "lower",
        TABLE,
        bounds=NONNEGATIVE,
    ),
    Quantity(
        "epochs_to_val_target",
        "epochs to the validation-loss target",
        "lower",
        TABLE,
        bounds=NONNEGATIVE,
    ),
    Quantity("final_train_loss", "final training loss", "lower", TABLE),
    Quantity("final_val_loss", "final validation loss", "lower", TABLE),
    Quantity("final_val_acc", "final validation accuracy", "higher", TABLE, bounds=SHARE),
    Quantity("loss_gap", "generalization gap (validation minus training loss)", "lower", TABLE),
    Quantity("lambda_max", "final λ_max", None, SHARPNESS),
    Quantity("lambda_max_matched", "λ_max at the matched training loss", None, SHARPNESS),
    Quantity("stability_ratio", "final stability ratio", None, SHARPNESS),
    Quantity(
        "edge_share", "share of training at the edge of stability", None, SHARPNESS, bounds=SHARE
    ),
    Quantity("profile_rise", "1D profile rise", None, f"{TABLE} and the profile figure"),
    Quantity("weight_norm", "final weight norm ‖w_T‖", None, TABLE, bounds=NONNEGATIVE),
    Quantity("distance_from_init", "distance from initialization", None, TABLE, bounds=NONNEGATIVE),
)
"""The quantities compared across contenders; each key is a field of RunSummary. The
epochs to a target are compared only when every run reached it (else the explanation
counts who did)."""

CURVATURE_SAMPLE = ("lambda_max", "lambda_max_matched", "stability_ratio")
"""Quantities measured on the curvature rows, whose sample a claim names."""


def curvature_sample(summaries: Sequence[RunSummary]) -> str:
    """The sample λ_max was measured on, in words (empty when the summaries do not say).

    >>> import types
    >>> print(curvature_sample([types.SimpleNamespace(curvature_rows=200, curvature_full=False)]))
    the first 200 training rows
    """
    rows = sorted({int(getattr(s, "curvature_rows", 0)) for s in summaries})
    if not rows or rows == [0]:
        return ""
    full = all(getattr(s, "curvature_full", False) for s in summaries)
    count = " or ".join(str(r) for r in rows)
    return f"the full training split ({count} rows)" if full else f"the first {count} training rows"


def comparison_quantities(summaries: Sequence[RunSummary]) -> tuple[Quantity, ...]:
    """:data:`QUANTITIES` with the curvature sample named on the quantities measured on it."""
    sample = curvature_sample(summaries)
    return tuple(
        replace(q, sample=sample) if q.key in CURVATURE_SAMPLE and sample else q for q in QUANTITIES
    )


def contender_values(
    summaries: Mapping[str, RunSummary], contenders: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, list[float]]]:
    """``values[quantity][contender]``: the per-seed values of every quantity.

    Quantities without one finite value (e.g. profile rise without profiles) are left out.

    Args:
        summaries: Every run's summary, by run name.
        contenders: The run names of each contender, by contender label.
    """
    values: dict[str, dict[str, list[float]]] = {}
    for q in QUANTITIES:
        per = {
            label: [_number(getattr(summaries[name], q.key)) for name in names]
            for label, names in contenders.items()
        }
        flat = [v for seeds in per.values() for v in seeds]
        if q.key.startswith("epochs_to_") and not all(math.isfinite(v) for v in flat):
            continue  # a run that never reached the target has no value to average
        if any(math.isfinite(v) for v in flat):
            values[q.key] = per
    return values


def _number(value: float | int | None) -> float:
    return math.nan if value is None else float(value)


def comparison_claims(
    summaries: Mapping[str, RunSummary],
    contenders: Mapping[str, Sequence[str]],
    *,
    alpha: float = ALPHA,
) -> list[Claim]:
    """Every estimate and pairwise difference of :data:`QUANTITIES`, Holm over the family."""
    quantities = comparison_quantities(list(summaries.values()))
    return group_claims(contender_values(summaries, contenders), quantities, alpha=alpha)


def mechanism_sentences(
    claims: Sequence[Claim],
    summaries: Mapping[str, RunSummary],
    contenders: Mapping[str, Sequence[str]],
) -> list[str]:
    """The mechanism rules that fire on these claims (only on significant differences).

    A contender is adaptive when every run of it used Adagrad, RMSprop, Adam or AdamW, plain
    when every run used SGD.
    """
    labels = list(contenders)

    def every(label: str, names: Sequence[str]) -> bool:
        return all(summaries[n].optimizer in names for n in contenders[label])

    adaptive = [label for label in labels if every(label, ADAPTIVE)]
    plain = [label for label in labels if every(label, ("sgd",))]
    return [
        *adaptive_generalization_mechanism(claims, adaptive, plain),
        *sharpness_gap_mechanism(claims, labels),
        *weight_norm_mechanism(claims, labels),
        *preconditioning_mechanism(claims, labels, adaptive),
    ]


def difference_statements(claims: Sequence[Claim]) -> list[str]:
    """Every difference claim's statement, the significant ones first (stable otherwise)."""
    differences = [c for c in claims if len(c.runs) == 2]
    return [c.statement for c in sorted(differences, key=lambda c: not c.significant)]


def method_note(alpha: float = ALPHA) -> str:
    """The sentence that says how the findings were tested."""
    return (
        f"Each contender's value is its mean over seeds with a {LEVEL:.0%} Student-t interval "
        f"over seeds; two contenders are said to differ only when Welch's t-test rejects "
        f"equality at a family-wise error rate of {alpha:.3g} after Holm's correction over "
        f"every pairwise comparison in this report. The interval of a difference is that "
        f"comparison's alone (unadjusted): one that excludes zero is not by itself a difference."
    )


@dataclass(frozen=True)
class FindingsText:
    """The "Findings" section of a report.

    Attributes:
        method: How the findings were tested (:func:`method_note`).
        differences: Every difference claim's statement, significant ones first.
        mechanisms: The mechanism sentences that fire.
    """

    method: str
    differences: tuple[str, ...]
    mechanisms: tuple[str, ...]


def findings_text(c: Comparison) -> FindingsText | None:
    """The findings section of a comparison, from its ``compare.h5`` (``None`` without one)."""
    stored = read_stored_findings(c.path)
    if stored is None:
        return None
    summaries = {r.summary.name: r.summary for r in c.runs}
    return FindingsText(
        method_note(stored.alpha),
        tuple(difference_statements(stored.claims)),
        tuple(mechanism_sentences(stored.claims, summaries, stored.contenders)),
    )
