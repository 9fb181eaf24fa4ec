"""The explanation is a pure function of the numbers: synthetic runs with known properties."""

import numpy as np

from landscape.dynamics.summary import EdgeTime
from landscape.records import Comparison, RunResult, Series, Stability
from landscape.report.claims import Quantity, group_claims
from landscape.report.explain import (
    comparative_sentence,
    convergence_sentence,
    edge_sentences,
    explain,
    explain_claims,
)
from landscape.report.findings import comparison_claims
from tests.report.summaries import FAST_FLAT, NAN, SLOW_SHARP, summary


def one_each(*summaries, matched_loss=0.8):
    """Claims and sentences of single-run contenders (n=1), as an in-memory comparison gets."""
    contenders = {s.label: (s.name,) for s in summaries}
    claims = comparison_claims({s.name: s for s in summaries}, contenders)
    return explain_claims(
        summaries, claims, contenders, train_target=0.5, val_target=0.9, matched_loss=matched_loss
    )


def test_one_run_each_ranks_nothing():
    out = one_each(SLOW_SHARP, FAST_FLAT)
    comparative = [s for s in out if "between" in s or "ranked" in s or "differs" in s]
    assert comparative and all("cannot be ranked" in s and "(n=1)" in s for s in comparative)
    assert not any(w in s for s in out for w in ("higher than", "sharpest", "first,", "lowest"))
    (lam,) = [s for s in out if s.startswith("The final λ_max")]
    assert "Adam 5" in lam and "SGD 50" in lam


def test_facts_of_single_runs_stay():
    out = one_each(SLOW_SHARP, FAST_FLAT)
    assert "SGD went unstable at epoch 6: divergence (loss left its initial 2.3 for good)." in out
    assert any(s.startswith("Adam overfits from epoch 4") for s in out)
    (edge,) = [s for s in out if "sat at the edge" in s]
    assert edge == (
        "SGD sat at the edge of stability over epochs 5-9: its λ_max stayed at or above 0.9 "
        "times its stability threshold for 40 steps (4 epochs, 40% of training; median ratio "
        "1.01)."
    )
    assert any(
        s.startswith("The epochs to the training-loss target 0.5 cannot be ranked") for s in out
    )


Q = Quantity("final_val_loss", "final validation loss", "lower", "Table 1")


def test_same_setup_no_clear_difference_and_no_ranking():
    claims = group_claims({"final_val_loss": {"A": [1.0, 1.1, 0.9], "A2": [1.02, 0.98, 1.05]}}, [Q])
    s = comparative_sentence(claims, "final_val_loss", "final validation loss", {"A": 3, "A2": 3})
    assert s.startswith("No clear difference in final validation loss between any two contenders")
    assert "Welch t-test over seeds, Holm-adjusted over 1 comparison" in s and "higher" not in s


def test_other_setup_named_with_interval_and_p():
    claims = group_claims({"final_val_loss": {"A": [1.0, 1.1, 0.9], "B": [2.0, 2.1, 1.9]}}, [Q])
    s = comparative_sentence(
        claims, "final_val_loss", "final validation loss", {"A": 3, "B": 3}, sample="rows"
    )
    assert s.startswith("The final validation loss differs: B's is higher than A's by 1 (95% CI")
    assert "p = 0.000255" in s and "on rows" in s


def test_seeds_without_spread_cannot_be_tested():
    claims = group_claims({"final_val_loss": {"A": [1.0, 1.0], "B": [2.0, 2.0]}}, [Q])
    s = comparative_sentence(claims, "final_val_loss", "final validation loss", {"A": 2, "B": 2})
    assert "cannot be compared by a test" in s and "higher" not in s


def test_convergence_counts_who_reached_the_target():
    a0 = summary("a0", label="A", epochs_to_val_target=3)
    a1 = summary("a1", label="A", epochs_to_val_target=None)
    b0 = summary("b0", label="B", epochs_to_val_target=2)
    s = convergence_sentence([], {"A": [a0, a1], "B": [b0]}, split="validation", target=1.0)
    assert s == (
        "Not every run reached the validation-loss target 1 within 10 epochs (A in 1 of 2 runs "
        "and B in 1 of 1 run), so the epochs to it are not compared by a test."
    )
    none = convergence_sentence([], {"A": [a1]}, split="validation", target=1.0)
    assert none == "No run reached the validation-loss target 1 within 10 epochs."
    assert convergence_sentence([], {"A": [a0]}, split="validation", target=NAN) is None


def test_edge_sentences_without_stretch_or_records():
    quiet = summary("q", label="Q", edge_share=0.0)
    assert edge_sentences([], {"Q": [quiet]}, fraction=0.9, records=3) == [
        "No run sat at the edge of stability (sharpness at or above 0.9 times the stability "
        "threshold for at least 3 consecutive records)."
    ]
    unmeasured = summary("u", label="U")
    assert edge_sentences([], {"U": [unmeasured]}, fraction=0.9, records=3) == []


def test_adaptive_edge_names_the_preconditioned_measure():
    adam = summary(
        "adam",
        label="Adam",
        optimizer="adam",
        **EdgeTime(1, 2, steps=10, epochs=1.0, share=0.1, median_ratio=0.97).summary_fields(),
    )
    (s,) = edge_sentences([], {"Adam": [adam]}, fraction=0.9, records=3)
    assert "its preconditioned λ_max stayed at or above 0.9" in s


def test_in_memory_comparison_explained_with_single_run_contenders(tmp_path):
    e = np.arange(3)
    series = Series(e, e, e + 1.0, e + 1.0, e / 3, e / 3)
    stab = Stability(e * 1.0, e * 1.0, e * 1.0, e * 1.0, np.full(3, 9.0), "checkpoints", False)
    results = tuple(RunResult(s, series, stab, None) for s in (SLOW_SHARP, FAST_FLAT))
    c = Comparison(tmp_path / "missing.h5", {"edge_fraction": 0.9}, 0.5, 0.9, results, None)
    out = explain(c)  # no compare.h5: each run its own contender
    assert out == one_each(SLOW_SHARP, FAST_FLAT, matched_loss=NAN)
    assert any("cannot be ranked" in s for s in out)
