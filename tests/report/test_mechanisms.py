import numpy as np

from landscape.report.claims import Quantity, group_claims
from landscape.report.mechanisms import (
    adaptive_generalization_mechanism,
    edge_mechanism,
    plateau_mechanism,
    preconditioning_mechanism,
    sharpness_gap_mechanism,
    weight_norm_mechanism,
)

Q = {
    key: Quantity(key, key.replace("_", " "), None, "Table 1")
    for key in (
        "final_train_loss",
        "final_val_loss",
        "lambda_max",
        "loss_gap",
        "profile_rise",
        "stability_ratio",
        "weight_norm",
    )
}


def seeds(mean, sd=0.01, n=4, seed=0):
    return np.random.default_rng(seed).normal(mean, sd, n)


def claims_of(table):
    return group_claims(table, [Q[k] for k in table])


def edge_text(label, **kw):
    """``edge_mechanism`` over epochs 3-9 with 12 records and noise 0.05 before, but for ``kw``."""
    options = dict(start_epoch=3, end_epoch=9, records=12, noise_before=0.05)
    return edge_mechanism(label, **(options | kw))


def test_edge_mechanism_oscillation_and_monotone_cases():
    text = edge_text("Adam", adaptive=True, median_ratio=0.97, noise_inside=0.2)
    assert "oscillated over epochs 3-9" in text and "preconditioned λ_max" in text
    assert "Cohen et al. 2022" in text and "0.97" in text
    calm = edge_text("GD", adaptive=False, median_ratio=1.01, noise_inside=0.06)
    assert "no clear oscillation" in calm and "Cohen et al. 2021" in calm


def test_wilson_fires_only_with_significant_worse_validation():
    fires = claims_of(
        {
            "final_train_loss": {"Adam": seeds(0.10, seed=1), "SGD": seeds(0.30, seed=2)},
            "final_val_loss": {"Adam": seeds(0.90, seed=3), "SGD": seeds(0.60, seed=4)},
        }
    )
    (text,) = adaptive_generalization_mechanism(fires, ["Adam"], ["SGD"])
    assert "Adam reached a lower training loss than SGD" in text and "Wilson et al. 2017" in text
    assert "95% CI" in text
    same_val = claims_of(
        {
            "final_train_loss": {"Adam": seeds(0.10, seed=1), "SGD": seeds(0.30, seed=2)},
            "final_val_loss": {"Adam": seeds(0.60, 0.05, seed=3), "SGD": seeds(0.60, 0.05, seed=4)},
        }
    )
    assert adaptive_generalization_mechanism(same_val, ["Adam"], ["SGD"]) == []
    worse_fit = claims_of(
        {
            "final_train_loss": {"Adam": seeds(0.50, seed=1), "SGD": seeds(0.30, seed=2)},
            "final_val_loss": {"Adam": seeds(0.90, seed=3), "SGD": seeds(0.60, seed=4)},
        }
    )
    assert adaptive_generalization_mechanism(worse_fit, ["Adam"], ["SGD"]) == []


def test_keskar_needs_both_differences_in_the_same_direction():
    both = claims_of(
        {
            "lambda_max": {"A": seeds(20.0, seed=1), "B": seeds(10.0, seed=2)},
            "loss_gap": {"A": seeds(0.5, seed=3), "B": seeds(0.2, seed=4)},
        }
    )
    (text,) = sharpness_gap_mechanism(both, ["A", "B"])
    assert text.startswith("A's solution is sharper than B's") and "Dinh et al. 2017" in text
    opposite = claims_of(
        {
            "lambda_max": {"A": seeds(20.0, seed=1), "B": seeds(10.0, seed=2)},
            "loss_gap": {"A": seeds(0.2, seed=3), "B": seeds(0.5, seed=4)},
        }
    )
    assert sharpness_gap_mechanism(opposite, ["A", "B"]) == []
    noisy_gap = claims_of(
        {
            "lambda_max": {"A": seeds(20.0, seed=1), "B": seeds(10.0, seed=2)},
            "loss_gap": {"A": seeds(0.3, 0.2, seed=3), "B": seeds(0.3, 0.2, seed=4)},
        }
    )
    assert sharpness_gap_mechanism(noisy_gap, ["A", "B"]) == []


def test_weight_norm_reconciles_profile_and_raw_sharpness():
    table = {
        "profile_rise": {"Adam": seeds(3.0, seed=1), "SGD": seeds(1.0, seed=2)},
        "lambda_max": {"Adam": seeds(5.0, seed=3), "SGD": seeds(9.0, seed=4)},
        "weight_norm": {"Adam": seeds(40.0, seed=5), "SGD": seeds(15.0, seed=6)},
    }
    (text,) = weight_norm_mechanism(claims_of(table), ["Adam", "SGD"])
    assert text.startswith("Adam's filter-normalized profile") and "Li et al. 2018" in text
    table["weight_norm"] = {"Adam": seeds(15.0, seed=5), "SGD": seeds(40.0, seed=6)}
    assert weight_norm_mechanism(claims_of(table), ["Adam", "SGD"]) == []
    table["weight_norm"] = {"Adam": seeds(40.0, seed=5), "SGD": seeds(15.0, seed=6)}
    table["lambda_max"] = {"Adam": seeds(12.0, seed=3), "SGD": seeds(9.0, seed=4)}
    assert weight_norm_mechanism(claims_of(table), ["Adam", "SGD"]) == []


def _adam_at_its_edge(**override):
    table = {  # Adam: lower raw λ_max, but at 0.97 of 38/η; SGD at 0.6 of 2/η
        "lambda_max": {"Adam": seeds(5.0, seed=1), "SGD": seeds(9.0, seed=2)},
        "stability_ratio": {"Adam": seeds(0.97, seed=3), "SGD": seeds(0.6, seed=4)},
    }
    return claims_of({**table, **override})


def test_preconditioning_reconciles_raw_and_preconditioned_sharpness():
    claims = _adam_at_its_edge()
    (text,) = preconditioning_mechanism(claims, ["Adam", "SGD"], ["Adam"])
    assert text.startswith("Adam's raw λ_max is lower than SGD's (Adam 5")
    assert "(sharpness over threshold Adam 0.9" in text and "against SGD 0.6" in text
    lam = next(c for c in claims if c.quantity == "lambda_max" and len(c.runs) == 2)
    ratio = next(c for c in claims if c.quantity == "stability_ratio" and len(c.runs) == 2)
    for c in (lam, ratio):  # both differences quoted with their intervals
        assert f"{c.estimate:.3g} (95% CI {c.ci_low:.3g} to {c.ci_high:.3g})" in text
    for quoted in ("preconditioner of Adam", "λ_max(P⁻¹H)", "38/η", "Cohen et al. 2022"):
        assert quoted in text
    for label in ("Adam", "SGD"):  # each contender's mean ratio with its interval
        mean = next(c for c in claims if c.quantity == "stability_ratio" and c.runs == (label,))
        assert f"{label} {mean.estimate:.3g} (95% CI {mean.ci_low:.3g} to " in text


def test_preconditioning_reconciliation_stays_silent_without_a_significant_disagreement():
    noisy = {"Adam": seeds(0.8, 0.3, seed=3), "SGD": seeds(0.8, 0.3, seed=4)}
    assert (
        preconditioning_mechanism(
            _adam_at_its_edge(stability_ratio=noisy), ["Adam", "SGD"], ["Adam"]
        )
        == []
    )
    agree = {"Adam": seeds(0.5, seed=3), "SGD": seeds(0.9, seed=4)}  # both measures: Adam lower
    assert (
        preconditioning_mechanism(
            _adam_at_its_edge(stability_ratio=agree), ["Adam", "SGD"], ["Adam"]
        )
        == []
    )
    same_raw = {"Adam": seeds(7.0, 1.0, seed=1), "SGD": seeds(7.0, 1.0, seed=2)}
    assert (
        preconditioning_mechanism(_adam_at_its_edge(lambda_max=same_raw), ["Adam", "SGD"], ["Adam"])
        == []
    )
    # two SGD runs: the measures disagree through 2/η, not through a preconditioner
    assert preconditioning_mechanism(_adam_at_its_edge(), ["Adam", "SGD"], []) == []


def test_preconditioning_reconciliation_through_the_findings_section():
    from types import SimpleNamespace

    from landscape.report.findings import mechanism_sentences

    summaries = {n: SimpleNamespace(optimizer=o) for n, o in (("a0", "adam"), ("s0", "sgd"))}
    contenders = {"Adam": ("a0",), "SGD": ("s0",)}
    fired = mechanism_sentences(_adam_at_its_edge(), summaries, contenders)
    assert [s for s in fired if "Cohen et al. 2022" in s]
    summaries["a0"] = SimpleNamespace(optimizer="sgd")
    assert not mechanism_sentences(_adam_at_its_edge(), summaries, contenders)


def test_plateau_needs_a_small_gradient():
    assert "Goodfellow" in plateau_mechanism(
        "A", start_epoch=1, end_epoch=4, grad_inside=0.1, grad_after=1.0
    )
    assert (
        plateau_mechanism("A", start_epoch=1, end_epoch=4, grad_inside=0.6, grad_after=1.0) is None
    )
    assert (
        plateau_mechanism("A", start_epoch=1, end_epoch=4, grad_inside=0.1, grad_after=0.0) is None
    )
