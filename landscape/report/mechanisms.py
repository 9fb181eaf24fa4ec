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
- :func:`plateau_mechanism`: a stalled loss with a small gradient norm, a flat region
  crossed slowly (Goodfellow et al. 2016, section 8.2.3).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from landscape.report.claims import Claim

NOISE_RATIO = 2.0
"""Noise inside an edge stretch must exceed the noise before it by this factor to be called
an oscillation."""

FLAT_GRADIENT = 0.5
"""A plateau's gradient norm must be below this fraction of the norm after it."""


def _fmt(value: float) -> str:
    return f"{value:.3g}"


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
    return f"{_fmt(sign * claim.estimate)} (95% CI {_fmt(low)} to {_fmt(high)})"


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
        f"{_fmt(median_ratio)} over {records} records)"
    )
    span = f"epochs {start_epoch}-{end_epoch}"
    noise = f"epoch-to-epoch noise {_fmt(noise_inside)}, against {_fmt(noise_before)} before"
    if math.isfinite(noise_before) and noise_inside >= NOISE_RATIO * noise_before:
        return (
            f"{label}'s training loss oscillated over {span} ({noise}) because {at_edge}: "
            f"training at the edge of stability ({source})."
        )
    return (
        f"{label}'s sharpness stopped growing at the edge of stability over {span}: "
        f"{at_edge}; its training loss showed no clear oscillation there ({noise}) ({source})."
    )


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
    out = []
    for a in adaptive:
        for s in plain:
            train = _direction(claims, "final_train_loss", a, s)
            val = _direction(claims, "final_val_loss", a, s)
            if train is None or val is None or train > 0 or val <= 0:
                continue
            fit = (
                f"a lower training loss than {s}"
                if train < 0
                else f"a training loss not clearly different from {s}'s"
            )
            out.append(
                f"{a} reached {fit} (difference "
                f"{_delta(claims, 'final_train_loss', a, s)}) but a higher validation loss "
                f"(difference {_delta(claims, 'final_val_loss', a, s)}): it fit the training "
                f"set at least as well and generalized worse, the pattern Wilson et al. 2017 "
                f"report for adaptive methods."
            )
    return out


def sharpness_gap_mechanism(claims: Sequence[Claim], labels: Sequence[str]) -> list[str]:
    """A significantly sharper solution with a significantly larger generalization gap.

    Keskar et al. 2017 relate sharp minima to a larger generalization gap; Dinh et al. 2017
    show that sharpness alone cannot decide it (it changes under reparametrization), so the
    sentence states an association in these runs, not a law. Fires when ``lambda_max`` and
    ``loss_gap`` differ significantly in the same direction.
    """
    out = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            sharp = _direction(claims, "lambda_max", a, b)
            gap = _direction(claims, "loss_gap", a, b)
            if not sharp or not gap or sharp != gap:
                continue
            hi, lo = (a, b) if sharp > 0 else (b, a)
            out.append(
                f"{hi}'s solution is sharper than {lo}'s (λ_max higher by "
                f"{_delta(claims, 'lambda_max', hi, lo)}) and generalizes worse (gap larger by "
                f"{_delta(claims, 'loss_gap', hi, lo)}), the association Keskar et al. 2017 "
                f"describe; sharpness alone does not determine generalization (Dinh et al. 2017)."
            )
    return out


def weight_norm_mechanism(claims: Sequence[Claim], labels: Sequence[str]) -> list[str]:
    """Reconcile a steeper filter-normalized profile with raw sharpness through weight norms.

    Filter normalization scales each direction's filter to the norm of the same filter of
    the reference weights (Li et al. 2018), so a unit step moves a model with larger weights
    further in absolute terms and its profile looks steeper. Fires when ``a``'s profile rise
    is significantly larger than ``b``'s, its raw ``lambda_max`` is not significantly
    larger, and its weight norm is significantly larger.
    """
    out = []
    for a in labels:
        for b in labels:
            if a == b or _direction(claims, "profile_rise", a, b) != 1:
                continue
            if _direction(claims, "lambda_max", a, b) not in (0, -1):
                continue
            if _direction(claims, "weight_norm", a, b) != 1:
                continue
            out.append(
                f"{a}'s filter-normalized profile rises more steeply than {b}'s (by "
                f"{_delta(claims, 'profile_rise', a, b)}) although its raw λ_max is not "
                f"significantly higher: "
                f"its weights are larger (norm larger by {_delta(claims, 'weight_norm', a, b)}), "
                f"and filter normalization scales steps to the weights (Li et al. 2018), so the "
                f"same normalized step moves {a} further."
            )
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
        f"was {_fmt(grad_inside)}, {_fmt(ratio)} times its {_fmt(grad_after)} afterwards: a "
        f"flat region the optimizer crossed slowly (Goodfellow et al. 2016, section 8.2.3)."
    )
