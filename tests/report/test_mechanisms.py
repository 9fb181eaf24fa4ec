import numpy as np

from landscape.report.claims import Quantity, group_claims
from landscape.report.mechanisms import (
    adaptive_generalization_mechanism,
    edge_mechanism,
    plateau_mechanism,
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
        "weight_norm",
    )
}


def seeds(mean, sd=0.01, n=4, seed=0):
    return np.random.default_rng(seed).normal(mean, sd, n)


def claims_of(table):
    return group_claims(table, [Q[k] for k in table])


def test_edge_mechanism_oscillation_and_monotone_cases():
    text = edge_mechanism(
        "Adam",
        adaptive=True,
        start_epoch=3,
        end_epoch=9,
        median_ratio=0.97,
        records=12,
        noise_inside=0.2,
        noise_before=0.05,
    )
    assert "oscillated over epochs 3-9" in text and "preconditioned λ_max" in text
    assert "Cohen et al. 2022" in text and "0.97" in text
    calm = edge_mechanism(
        "GD",
        adaptive=False,
        start_epoch=3,
        end_epoch=9,
        median_ratio=1.01,
        records=12,
        noise_inside=0.06,
        noise_before=0.05,
    )
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
