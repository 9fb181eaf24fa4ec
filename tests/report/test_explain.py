"""The explanation is a pure function of the numbers: synthetic runs with known properties."""

import pytest

from landscape.dynamics.diagnose import Finding
from landscape.records import RunSummary
from landscape.report.explain import (
    convergence_sentence,
    explain_summaries,
    gap_sentence,
    sharpness_sentence,
)

NAN = float("nan")


def summary(name, **kw):
    base = dict(
        name=name,
        label=name,
        optimizer="sgd",
        lr=0.1,
        epochs=10,
        steps=100,
        epochs_to_train_target=None,
        steps_to_train_target=None,
        epochs_to_val_target=None,
        steps_to_val_target=None,
        final_train_loss=1.0,
        final_train_acc=0.5,
        final_val_loss=1.2,
        final_val_acc=0.4,
        loss_gap=0.2,
        acc_gap=0.1,
        best_val_loss=1.2,
        best_val_epoch=10,
        distance_travelled=5.0,
        distance_from_init=4.0,
        lambda_max=10.0,
        precond_lambda_max=NAN,
        trace=100.0,
        trace_stderr=1.0,
        threshold=20.0,
        stability_ratio=0.5,
        max_stability_ratio=0.5,
        edge_epoch=None,
        profile_rise=0.1,
    )
    base.update(kw)
    return RunSummary(**base)


FAST_FLAT = summary(
    "fast",
    label="Adam",
    epochs_to_val_target=2,
    steps_to_val_target=20,
    epochs_to_train_target=3,
    steps_to_train_target=30,
    lambda_max=5.0,
    final_val_loss=0.8,
    final_val_acc=0.75,
    loss_gap=0.6,
    distance_from_init=9.0,
    distance_travelled=12.0,
    findings=(Finding("overfitting", 4, None, "validation loss rose from 0.7 to 0.8"),),
)
SLOW_SHARP = summary(
    "slow",
    label="SGD",
    epochs_to_val_target=8,
    steps_to_val_target=80,
    epochs_to_train_target=9,
    steps_to_train_target=90,
    lambda_max=50.0,
    final_val_loss=1.1,
    final_val_acc=0.6,
    loss_gap=0.05,
    distance_from_init=2.0,
    edge_epoch=5,
    max_stability_ratio=1.1,
    findings=(Finding("divergence", 6, None, "loss left its initial 2.3 for good"),),
)


def sentences():
    return explain_summaries([SLOW_SHARP, FAST_FLAT], train_target=0.5, val_target=0.9)


def find(start):
    hits = [s for s in sentences() if start in s]
    assert len(hits) == 1, (start, sentences())
    return hits[0]


def test_fastest_to_validation_target_is_named_first_with_its_epoch():
    s = find("validation-loss target")
    assert s.startswith("Adam reached the validation-loss target 0.9 first, at epoch 2 (20 steps)")
    assert "then SGD at epoch 8" in s


def test_sharper_minimum_and_ratio():
    s = find("sharpest")
    assert "SGD's (λ_max = 50)" in s and "10 times" in s and "Adam's (λ_max = 5)" in s


def test_instability_names_run_and_epoch():
    assert find("went unstable") == (
        "SGD went unstable at epoch 6: divergence (loss left its initial 2.3 for good)."
    )
    assert find("edge of stability").startswith("SGD reached the edge of stability in epoch 5")


def test_overfitting_gap_best_distance():
    assert find("overfits").startswith("Adam overfits from epoch 4")
    assert "largest for Adam (0.6) and smallest for SGD (0.05)" in find("generalization gap")
    assert find("lowest validation loss").startswith(
        "Adam ends with the lowest validation loss, 0.8"
    )
    assert find("farthest").startswith("Adam ended farthest from its initialization")


def test_swapping_the_numbers_swaps_the_names():
    swapped = explain_summaries(
        [
            summary("a", label="A", lambda_max=1.0, epochs_to_val_target=7, steps_to_val_target=7),
            summary("b", label="B", lambda_max=3.0, epochs_to_val_target=1, steps_to_val_target=1),
        ],
        train_target=0.5,
        val_target=0.9,
    )
    assert any(s.startswith("B reached the validation-loss target") for s in swapped)
    assert any("sharpest final minimum is B's" in s and "3 times" in s for s in swapped)


def test_ties_unreached_and_similar():
    s = convergence_sentence(
        {"A": 2, "B": 2, "C": None},
        {"A": 20, "B": 20, "C": None},
        target=1.0,
        split="training",
        total_epochs={"A": 5, "B": 5, "C": 5},
    )
    assert s == (
        "A and B reached the training-loss target 1 first, together at epoch 2; "
        "C did not reach it within 5 epochs."
    )
    none = convergence_sentence(
        {"A": None}, {"A": None}, target=1.0, split="validation", total_epochs={"A": 3}
    )
    assert none.startswith("No run reached the validation-loss target 1")
    assert sharpness_sentence({"A": 10.0, "B": 11.0}).startswith(
        "All final minima are about equally sharp"
    )
    assert sharpness_sentence({"A": 10.0}) is None
    assert gap_sentence({"A": NAN, "B": 0.1}) is None


def test_duplicate_labels_fall_back_to_run_names():
    out = explain_summaries(
        [
            summary("run1", label="Adam", lambda_max=2.0),
            summary("run2", label="Adam", lambda_max=9.0),
        ],
        train_target=0.5,
        val_target=0.9,
    )
    assert any("sharpest final minimum is run2's" in s for s in out)


def test_nan_target_gives_no_convergence_sentence():
    out = explain_summaries([FAST_FLAT, SLOW_SHARP], train_target=NAN, val_target=NAN)
    assert not any("target" in s for s in out)


@pytest.mark.parametrize(
    "ratio,expected", [(0.5, "No run came within 0.9"), (1.1, "reached the edge")]
)
def test_edge_sentence_depends_on_ratio(ratio, expected):
    edge = 3 if ratio >= 0.9 else None
    out = explain_summaries(
        [
            summary("a", label="A", max_stability_ratio=ratio, edge_epoch=edge),
            summary("b", label="B"),
        ],
        train_target=0.5,
        val_target=0.9,
    )
    assert any(expected in s for s in out)
