"""Claims with their evidence: per-group estimates and pairwise differences over seeds.

Every quantity the report compares is measured once per seed of each contender (a group of
seeds, or a single run). A contender's value is stated as its mean with a Student-t interval
over its seeds; two contenders are said to differ only when Welch's t-test rejects equality
after Holm's correction over the whole family of pairwise comparisons in the report
(:mod:`landscape.stats`). Otherwise the sentence says there is no clear difference, with
the numbers. A difference's interval is that comparison's alone (unadjusted, and said so),
so among many comparisons one may exclude zero while the adjusted test finds no difference.
Each claim names the figure or table it rests on.

>>> q = Quantity("final_val_loss", "final validation loss", "lower", "Table 1")
>>> claims = group_claims({"final_val_loss": {"A": [1.0, 1.1, 0.9], "B": [2.0, 2.1, 1.9]}}, [q])
>>> [c.significant for c in claims]
[False, False, True]
>>> print(claims[-1].statement)  # doctest: +NORMALIZE_WHITESPACE
A's final validation loss is lower than B's: 1 against 2, a difference of -1 (unadjusted 95%
CI -1.23 to -0.773; Welch t-test, Holm-adjusted p = 0.000255 over 1 comparison).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from landscape.records import Claim
from landscape.stats import LEVEL, Difference, holm_adjusted, mean_interval, welch_difference


@dataclass(frozen=True)
class Quantity:
    """A number the report compares across contenders.

    Attributes:
        key: Name of the quantity in the findings table, e.g. ``final_val_loss``.
        words: How a sentence names it, e.g. ``final validation loss``.
        better: Which direction is better, or None when neither is (e.g. weight norm).
        evidence: The figure or table that shows it.
        sample: What it was estimated on, e.g. ``the full validation split (1000 rows)``;
            empty when that is stated once for the whole report.
        bounds: The range the quantity can take (``(0, 1)`` for a share), which its
            intervals are intersected with; ``None`` when unbounded.
    """

    key: str
    words: str
    better: Literal["lower", "higher"] | None
    evidence: str
    sample: str = ""
    bounds: tuple[float, float] | None = None


def fmt(value: float) -> str:
    """A number as the report writes it: three significant digits.

    >>> fmt(0.123456), fmt(12345.0)
    ('0.123', '1.23e+04')
    """
    return f"{value:.3g}"


def with_interval(estimate: float, low: float, high: float) -> str:
    """``estimate (95% CI low to high)``, at the report's :data:`~landscape.stats.LEVEL`."""
    return f"{fmt(estimate)} ({LEVEL:.0%} CI {fmt(low)} to {fmt(high)})"


def estimate_text(claim: Claim) -> str:
    """A contender's mean with its interval over seeds, as a sentence quotes it.

    Seeds without spread are said to agree rather than given an interval of zero width,
    which would claim a certainty that a quantity measured per epoch does not have;
    without an interval (one run) the mean stands alone.

    >>> c = Claim("", "q", ("A",), 7.0, 7.0, 7.0, False, "")
    >>> estimate_text(c), estimate_text(Claim("", "q", ("A",), 2.0, 1.5, 2.5, False, ""))
    ('7 (the same in every seed)', '2 (95% CI 1.5 to 2.5)')
    """
    if not (math.isfinite(claim.ci_low) and math.isfinite(claim.ci_high)):
        return fmt(claim.estimate)
    if claim.ci_low == claim.ci_high:
        return f"{fmt(claim.estimate)} (the same in every seed)"
    return with_interval(claim.estimate, claim.ci_low, claim.ci_high)


def estimate_claim(quantity: Quantity, label: str, values: Sequence[float]) -> Claim:
    """A contender's mean over seeds with its interval.

    >>> q = Quantity("lambda_max", "top Hessian eigenvalue", None, "Figure 2")
    >>> estimate_claim(q, "SGD", [4.0, 6.0]).statement
    "SGD's top Hessian eigenvalue: 5 (95% CI -7.71 to 17.7, n=2)."
    """
    interval = mean_interval(values, bounds=quantity.bounds)
    sample = f", on {quantity.sample}" if quantity.sample else ""
    return Claim(
        statement=f"{label}'s {quantity.words}: {interval.text()}{sample}.",
        quantity=quantity.key,
        runs=(label,),
        estimate=interval.estimate,
        ci_low=interval.low,
        ci_high=interval.high,
        significant=False,
        evidence=quantity.evidence,
    )


def _difference_statement(
    quantity: Quantity,
    pair: tuple[str, str],
    means: tuple[float, float],
    difference: Difference,
    *,
    adjusted_p: float,
    significant: bool,
    family: int,
) -> str:
    a, b = pair
    iv = difference.interval
    comparisons = f"{family} comparison{'s' if family != 1 else ''}"
    numbers = f"{fmt(means[0])} against {fmt(means[1])}"
    if not iv.known or math.isnan(adjusted_p):
        return (
            f"{a}'s and {b}'s {quantity.words} cannot be compared by a test ({numbers}): "
            f"it needs at least two seeds with spread in each."
        )
    test = (
        f"unadjusted {LEVEL:.0%} CI {fmt(iv.low)} to {fmt(iv.high)}; Welch t-test, "
        f"Holm-adjusted p = {adjusted_p:.3g} over {comparisons}"
    )
    if not significant:
        return (
            f"No clear difference in {quantity.words} between {a} and {b}: {numbers}, "
            f"a difference of {fmt(iv.estimate)} ({test})."
        )
    direction = "lower" if iv.estimate < 0 else "higher"
    return (
        f"{a}'s {quantity.words} is {direction} than {b}'s: {numbers}, a difference of "
        f"{fmt(iv.estimate)} ({test})."
    )


def group_claims(
    values: Mapping[str, Mapping[str, Sequence[float]]],
    quantities: Sequence[Quantity],
    *,
    alpha: float = 1.0 - LEVEL,
) -> list[Claim]:
    """Estimates and pairwise differences of every quantity, Holm-controlled as one family.

    Args:
        values: ``values[quantity_key][contender]`` is the list of per-seed values.
        quantities: The quantities to compare, in report order.
        alpha: Family-wise error rate over all pairwise differences.

    Returns:
        For each quantity, one estimate claim per contender, then one difference claim per
        pair of contenders (in the order the contenders are given).
    """
    estimates: list[Claim] = []
    pending: list[tuple[Quantity, tuple[str, str], Difference]] = []
    for quantity in quantities:
        per_contender = values.get(quantity.key, {})
        for label, seeds in per_contender.items():
            estimates.append(estimate_claim(quantity, label, seeds))
        for a, b in itertools.combinations(per_contender, 2):
            pending.append((quantity, (a, b), welch_difference(per_contender[a], per_contender[b])))
    adjusted = holm_adjusted([d.p_value for _, _, d in pending])
    family = sum(1 for _, _, d in pending if not math.isnan(d.p_value))
    differences: dict[str, list[Claim]] = {}
    for (quantity, pair, difference), p in zip(pending, adjusted, strict=True):
        significant = bool(p <= alpha)
        seeds = values[quantity.key]
        means = (mean_interval(seeds[pair[0]]).estimate, mean_interval(seeds[pair[1]]).estimate)
        statement = _difference_statement(
            quantity, pair, means, difference, adjusted_p=p, significant=significant, family=family
        )
        differences.setdefault(quantity.key, []).append(
            Claim(
                statement=statement,
                quantity=quantity.key,
                runs=pair,
                estimate=difference.interval.estimate,
                ci_low=difference.interval.low,
                ci_high=difference.interval.high,
                significant=significant,
                evidence=quantity.evidence,
                p_value=p,
            )
        )
    ordered: list[Claim] = []
    for quantity in quantities:
        ordered += [c for c in estimates if c.quantity == quantity.key]
        ordered += differences.get(quantity.key, [])
    return ordered
