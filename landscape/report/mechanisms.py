"""Mechanisms: sentences that link a measured cause to an outcome, each citing its numbers.

Every rule is a pure function of claims (:mod:`landscape.report.claims`) and diagnosis
findings, documented with the literature it rests on, and returns ``None`` when its
evidence is not clear: a difference it builds on must be significant under the report's
test (Welch over seeds, Holm-controlled), never read off two means.

Rules and sources:

- :func:`edge_mechanism`: oscillating or non-monotone loss explained by sharpness at the
  stability threshold (Cohen et al. 2021 for GD and SGD, 2022 for adaptive methods with
  the preconditioned sharpness).
- :func:`adaptive_generalization_mechanism`: an adaptive method fitting the training set at
  least as well but generalizing worse than SGD (Wilson et al. 2017).
- :func:`sharpness_gap_mechanism`: a sharper solution with a larger generalization gap
  (Keskar et al. 2017), with the caveat that sharpness depends on parametrization (Dinh et
  al. 2017).
- :func:`weight_norm_mechanism`: a steeper filter-normalized profile explained by larger
  weights when raw sharpness says otherwise (Li et al. 2018, section 4).
- :func:`preconditioning_mechanism`: a lower raw λ_max but a sharpness closer to its own
  threshold, reconciled by the preconditioner (Cohen et al. 2022 for adaptive methods
  against 38/η, Cohen et al. 2021 for SGD against 2/η).
- :func:`plateau_mechanism`: a stalled loss with a small gradient norm, a flat region
  crossed slowly (Goodfellow et al. 2016, section 8.2.3).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from landscape.report.claims import Claim, estimate_text, fmt, with_interval

NOISE_RATIO = 2.0
"""Noise inside an edge stretch must exceed the noise before it by this factor to be called
an oscillation."""

FLAT_GRADIENT = 0.5
"""A plateau's gradient norm must be below this fraction of the norm after it."""


def difference(claims: Sequence[Claim], quantity: str, a: str, b: str) -> tuple[Claim, int] | None:
    """The difference claim of ``quantity`` between ``a`` and ``b``, and its orientation.

    Returns:
        The claim and ``+1`` when its estimate is ``a - b``, ``-1`` when it is ``b - a``;
        None when there is no such claim.
    """
    for claim in claims:
        if claim.quantity == quantity and len(claim.runs) == 2:
            if claim.runs == (a, b):
                return claim, 1
            if claim.runs == (b, a):
                return claim, -1
    return None


def _direction(claims: Sequence[Claim], quantity: str, a: str, b: str) -> int | None:
    """+1 when ``a``'s quantity is significantly higher than ``b``'s, -1 lower, 0 neither.

    None when the pair was not compared.
    """
    found = difference(claims, quantity, a, b)
    if found is None:
        return None
    claim, sign = found
    if not claim.significant:
        return 0
    return sign * (1 if claim.estimate > 0 else -1)


def _delta(claims: Sequence[Claim], quantity: str, a: str, b: str) -> str:
    """``a - b`` with its interval, as text (the pair must have been compared)."""
    found = difference(claims, quantity, a, b)
    assert found is not None
    claim, sign = found
    low, high = sorted((sign * claim.ci_low, sign * claim.ci_high))
    return with_interval(sign * claim.estimate, low, high)


def edge_mechanism(
    label: str,
    *,
    adaptive: bool,
    start_epoch: int,
    end_epoch: int,
    median_ratio: float,
    records: int,
    noise_inside: float,
    noise_before: float,
) -> str:
    """Why the loss behaved as it did while the sharpness sat at its stability threshold.

    At the edge of stability the top eigenvalue (preconditioned, for adaptive methods)
    hovers at the threshold (2/η for GD, 38/η for Adam with β1 = 0.9) and the loss falls
    non-monotonically over long times (Cohen et al. 2021, 2022). The loss is said to
    oscillate when its epoch-to-epoch noise inside the stretch is at least
    :data:`NOISE_RATIO` times the noise before it.

    >>> print(edge_mechanism("SGD", adaptive=False, start_epoch=12, end_epoch=20,
    ...       median_ratio=1.03, records=9, noise_inside=0.31, noise_before=0.04))
    ... # doctest: +NORMALIZE_WHITESPACE
    SGD's training loss oscillated over epochs 12-20 (epoch-to-epoch noise 0.31, against 0.04
    before) because its λ_max sat at its stability threshold there (median ratio 1.03 over 9
    records): training at the edge of stability (Cohen et al. 2021).
    """
    measure = "preconditioned λ_max" if adaptive else "λ_max"
    source = "Cohen et al. 2022" if adaptive else "Cohen et al. 2021"
    at_edge = (
        f"its {measure} sat at its stability threshold there (median ratio "
        f"{fmt(median_ratio)} over {records} records)"
    )
    span = f"epochs {start_epoch}-{end_epoch}"
    noise = f"epoch-to-epoch noise {fmt(noise_inside)}, against {fmt(noise_before)} before"
    if math.isfinite(noise_before) and noise_inside >= NOISE_RATIO * noise_before:
        return (
            f"{label}'s training loss oscillated over {span} ({noise}) because {at_edge}: "
            f"training at the edge of stability ({source})."
        )
    return (
        f"{label}'s sharpness stopped growing at the edge of stability over {span}: "
        f"{at_edge}; its training loss showed no clear oscillation there ({noise}) ({source})."
    )


@dataclass(frozen=True)
class PairRule:
    """A mechanism read off the difference claims of one ordered pair ``(a, b)`` of contenders.

    Attributes:
        directions: For each quantity, the directions of ``a - b`` that let the rule fire:
            ``1`` significantly higher, ``-1`` significantly lower, ``0`` no clear difference
            (a pair that was not compared never fires).
        sentence: A :meth:`str.format` template with ``{a}``, ``{b}`` and, for every quantity
            ``q`` of ``directions``, ``{d_q}`` (``a - b`` with its interval) and ``{a_q}``,
            ``{b_q}`` (each contender's mean with its interval).

    >>> from landscape.report.claims import Quantity, group_claims
    >>> q = Quantity("x", "x", None, "Table 1")
    >>> claims = group_claims({"x": {"A": [2.0, 2.1, 1.9], "B": [1.0, 1.1, 0.9]}}, [q])
    >>> rule = PairRule({"x": (1,)}, "{a}'s x ({a_x}) exceeds {b}'s by {d_x}.")
    >>> rule.fires(claims, "A", "B"), rule.fires(claims, "B", "A")
    (True, False)
    >>> print(rule.text(claims, "A", "B"))  # doctest: +NORMALIZE_WHITESPACE
    A's x (2 (95% CI 1.75 to 2.25)) exceeds B's by 1 (95% CI 0.773 to 1.23).
    """

    directions: Mapping[str, Collection[int]]
    sentence: str

    def fires(self, claims: Sequence[Claim], a: str, b: str) -> bool:
        """Whether every quantity of the rule differs between ``a`` and ``b`` as it needs."""
        return all(_direction(claims, q, a, b) in ok for q, ok in self.directions.items())

    def text(self, claims: Sequence[Claim], a: str, b: str, **words: str) -> str:
        """The rule's sentence for ``(a, b)``, with the numbers and any extra ``words``."""
        numbers = {f"d_{q}": _delta(claims, q, a, b) for q in self.directions}
        for q in self.directions:
            numbers |= {f"a_{q}": _estimate(claims, q, a), f"b_{q}": _estimate(claims, q, b)}
        return self.sentence.format(a=a, b=b, **numbers, **words)


def _estimate(claims: Sequence[Claim], quantity: str, label: str) -> str:
    """``label``'s mean of ``quantity`` with its interval, as text (``?`` when not stored)."""
    for c in claims:
        if c.quantity == quantity and c.runs == (label,):
            return estimate_text(c)
    return "?"


def _both_ways(labels: Sequence[str]) -> list[tuple[str, str]]:
    """Every pair of ``labels`` in both orientations, each pair's two kept together."""
    return [p for a, b in itertools.combinations(labels, 2) for p in ((a, b), (b, a))]


def _wilson(fit: str, train: int) -> PairRule:
    return PairRule(
        {"final_train_loss": (train,), "final_val_loss": (1,)},
        f"{{a}} reached {fit} (difference {{d_final_train_loss}}) but a higher validation loss "
        "(difference {d_final_val_loss}): it fit the training set at least as well and "
        "generalized worse, the pattern Wilson et al. 2017 report for adaptive methods.",
    )


WILSON = (
    _wilson("a lower training loss than {b}", -1),
    _wilson("a training loss not clearly different from {b}'s", 0),
)
"""Wilson et al. 2017: an adaptive ``a`` fits at least as well as SGD ``b``, generalizes worse."""

KESKAR = PairRule(
    {"lambda_max": (1,), "loss_gap": (1,)},
    "{a}'s solution is sharper than {b}'s (λ_max higher by {d_lambda_max}) and generalizes "
    "worse (gap larger by {d_loss_gap}), the association Keskar et al. 2017 describe; "
    "sharpness alone does not determine generalization (Dinh et al. 2017).",
)
"""Keskar et al. 2017: the sharper solution has the larger generalization gap."""

LI_WEIGHT_NORM = PairRule(
    {"profile_rise": (1,), "lambda_max": (0, -1), "weight_norm": (1,)},
    "{a}'s filter-normalized profile rises more steeply than {b}'s (by {d_profile_rise}) "
    "although its raw λ_max is not significantly higher: its weights are larger (norm larger "
    "by {d_weight_norm}), and filter normalization scales steps to the weights (Li et al. "
    "2018), so the same normalized step moves {a} further.",
)
"""Li et al. 2018: a steeper filter-normalized profile explained by larger weights."""

PRECONDITIONED = PairRule(
    {"lambda_max": (-1,), "stability_ratio": (1,)},
    "{a}'s raw λ_max is lower than {b}'s ({a} {a_lambda_max} against {b} {b_lambda_max}; "
    "difference {d_lambda_max}) yet {a} sits closer to its own stability threshold "
    "(sharpness over threshold {a} {a_stability_ratio} against {b} {b_stability_ratio}; "
    "difference {d_stability_ratio}): the preconditioner of {adaptive} rescales the "
    "curvature its steps see, so an adaptive method is judged by its preconditioned sharpness "
    "λ_max(P⁻¹H) against its own threshold (38/η for Adam with β₁ = 0.9, 2/η for RMSprop and "
    "Adagrad; Cohen et al. 2022), SGD by raw λ_max against 2/η (2(1+β)/η with momentum β; "
    "Cohen et al. 2021).",
)
"""Cohen et al. 2022: raw and preconditioned sharpness rank two contenders differently."""


def _fired(
    rules: Sequence[PairRule], claims: Sequence[Claim], pairs: Sequence[tuple[str, str]]
) -> list[str]:
    """The first firing rule's sentence for each pair, in the order of ``pairs``."""
    out = []
    for a, b in pairs:
        rule = next((r for r in rules if r.fires(claims, a, b)), None)
        if rule is not None:
            out.append(rule.text(claims, a, b))
    return out


def adaptive_generalization_mechanism(
    claims: Sequence[Claim], adaptive: Collection[str], plain: Collection[str]
) -> list[str]:
    """Adaptive methods that fit the training set as well as SGD but generalize worse.

    Wilson et al. 2017 ("The marginal value of adaptive gradient methods") found that
    adaptive methods often reach training losses as low as SGD's but higher test error.
    Fires for a pair (adaptive A, non-adaptive S) when A's final training loss is not
    significantly higher than S's and A's final validation loss is significantly higher.

    Args:
        claims: The report's claims (quantities ``final_train_loss``, ``final_val_loss``).
        adaptive: Contenders trained with Adagrad, RMSprop, Adam or AdamW.
        plain: Contenders trained with SGD (with or without momentum) or GD.

    Returns:
        One sentence per pair where the rule fires.
    """
    return _fired(WILSON, claims, [(a, s) for a in adaptive for s in plain])


def sharpness_gap_mechanism(claims: Sequence[Claim], labels: Sequence[str]) -> list[str]:
    """A significantly sharper solution with a significantly larger generalization gap.

    Keskar et al. 2017 relate sharp minima to a larger generalization gap; Dinh et al. 2017
    show that sharpness alone cannot decide it (it changes under reparametrization), so the
    sentence states an association in these runs, not a law. Fires when ``lambda_max`` and
    ``loss_gap`` differ significantly in the same direction.
    """
    return _fired((KESKAR,), claims, _both_ways(labels))


def weight_norm_mechanism(claims: Sequence[Claim], labels: Sequence[str]) -> list[str]:
    """Reconcile a steeper filter-normalized profile with raw sharpness through weight norms.

    Filter normalization scales each direction's filter to the norm of the same filter of
    the reference weights (Li et al. 2018), so a unit step moves a model with larger weights
    further in absolute terms and its profile looks steeper. Fires when ``a``'s profile rise
    is significantly larger than ``b``'s, its raw ``lambda_max`` is not significantly
    larger, and its weight norm is significantly larger.
    """
    return _fired((LI_WEIGHT_NORM,), claims, [(a, b) for a in labels for b in labels if a != b])


def preconditioning_mechanism(
    claims: Sequence[Claim], labels: Sequence[str], adaptive: Collection[str]
) -> list[str]:
    """Reconcile raw λ_max with the preconditioned sharpness when they rank a pair differently.

    An adaptive method with preconditioner ``P`` is stable while the preconditioned
    sharpness ``λ_max(P⁻¹H)`` stays below its threshold, ``(2 + 2β₁)/((1 − β₁)η)`` = 38/η
    for Adam with β₁ = 0.9 (Cohen et al. 2022), whereas SGD is stable while raw ``λ_max(H)``
    stays below 2/η (Cohen et al. 2021). The stored ``stability_ratio`` is the governing
    sharpness over the governing threshold, so a contender can have the lower raw λ_max
    and still sit closer to its edge. Fires for an ordered pair ``(a, b)``, at least one of
    them adaptive, when ``a``'s raw ``lambda_max`` is significantly lower than ``b``'s and
    its ``stability_ratio`` significantly higher; the sentence names both measures, each
    contender's value with its interval, and the differences.

    Args:
        claims: The report's claims (quantities ``lambda_max``, ``stability_ratio``).
        labels: Every contender, in report order.
        adaptive: The contenders trained with Adagrad, RMSprop, Adam or AdamW.

    Returns:
        One sentence per pair where the rule fires.
    """
    out = []
    for a, b in _both_ways(labels):
        both = [x for x in (a, b) if x in adaptive]
        if both and PRECONDITIONED.fires(claims, a, b):
            out.append(PRECONDITIONED.text(claims, a, b, adaptive=" and ".join(both)))
    return out


def plateau_mechanism(
    label: str, *, start_epoch: int, end_epoch: int, grad_inside: float, grad_after: float
) -> str | None:
    """A plateau explained by a small gradient: a flat region crossed slowly.

    Goodfellow et al. 2016 (section 8.2.3) describe plateaus and saddle points as regions
    of small gradient where first-order methods slow down. Fires when the mean gradient norm
    over the plateau is below :data:`FLAT_GRADIENT` times the norm after it.

    >>> plateau_mechanism("SGD", start_epoch=3, end_epoch=8, grad_inside=0.1, grad_after=0.9)
    ... # doctest: +NORMALIZE_WHITESPACE
    "SGD's loss stalled over epochs 3-8 while its gradient norm was 0.1, 0.111 times its 0.9
    afterwards: a flat region the optimizer crossed slowly (Goodfellow et al. 2016, section 8.2.3)."
    >>> plateau_mechanism("SGD", start_epoch=3, end_epoch=8, grad_inside=0.8, grad_after=0.9)
    """
    if not (grad_after > 0 and math.isfinite(grad_inside)):
        return None
    ratio = grad_inside / grad_after
    if ratio >= FLAT_GRADIENT:
        return None
    return (
        f"{label}'s loss stalled over epochs {start_epoch}-{end_epoch} while its gradient norm "
        f"was {fmt(grad_inside)}, {fmt(ratio)} times its {fmt(grad_after)} afterwards: a "
        f"flat region the optimizer crossed slowly (Goodfellow et al. 2016, section 8.2.3)."
    )
