import math

import numpy as np
import pytest
from scipy import stats as sps

from landscape.report.claims import Quantity, group_claims
from landscape.stats import holm, holm_adjusted, mean_interval, welch_difference


def test_mean_interval_is_student_t_by_hand():
    x = np.array([0.52, 0.49, 0.55, 0.50])
    iv = mean_interval(x)
    half = sps.t.ppf(0.975, 3) * x.std(ddof=1) / 2.0
    assert iv.estimate == pytest.approx(x.mean(), abs=1e-15)
    assert (iv.low, iv.high) == pytest.approx((x.mean() - half, x.mean() + half), rel=1e-12)
    assert iv.n == 4


def test_mean_interval_one_seed_has_no_interval_and_drops_nan():
    iv = mean_interval([0.3])
    assert iv.estimate == 0.3 and not iv.known
    assert mean_interval([0.3, math.nan, 0.5]).n == 2


def test_welch_difference_matches_satterthwaite_by_hand():
    a, b = np.array([1.0, 1.3, 0.8, 1.1]), np.array([1.6, 2.4, 1.9])
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    d = welch_difference(a, b)
    assert d.p_value == pytest.approx(2 * sps.t.sf(abs(t), df), rel=1e-10)
    half = sps.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert (d.interval.low, d.interval.high) == pytest.approx(
        (a.mean() - b.mean() - half, a.mean() - b.mean() + half), rel=1e-10
    )


def test_welch_untestable_cases_give_nan():
    assert math.isnan(welch_difference([1.0], [2.0, 3.0]).p_value)
    assert math.isnan(welch_difference([1.0, 1.0], [2.0, 2.0]).p_value)


def test_holm_adjusted_by_hand():
    # m = 4; sorted p: 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.03, 0.06, 0.06
    assert holm_adjusted([0.04, 0.005, 0.03, 0.01]) == pytest.approx([0.06, 0.02, 0.06, 0.03])
    assert holm([0.04, 0.005, 0.03, 0.01], alpha=0.05) == [False, True, False, True]
    adjusted = holm_adjusted([math.nan, 0.01])
    assert math.isnan(adjusted[0]) and adjusted[1] == pytest.approx(0.02)


def test_holm_controls_family_wise_error_under_the_null():
    rng = np.random.default_rng(0)
    families = rng.uniform(size=(4000, 10))
    any_rejected = np.mean([any(holm(p, alpha=0.05)) for p in families])
    assert any_rejected <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 4000)


QUANTITIES = [
    Quantity("final_val_loss", "final validation loss", "lower", "Table 1"),
    Quantity("lambda_max", "top Hessian eigenvalue", None, "Figure 2"),
]


def _groups(rng, shift):
    return {
        "final_val_loss": {"A": rng.normal(0.5, 0.03, 3), "B": rng.normal(0.5 + shift, 0.03, 3)},
        "lambda_max": {"A": rng.normal(8.0, 0.5, 3), "B": rng.normal(8.0, 0.5, 3)},
    }


def test_a_a_groups_give_no_significant_difference():
    rng = np.random.default_rng(1)
    false_alarms = sum(
        any(c.significant for c in group_claims(_groups(rng, 0.0), QUANTITIES)) for _ in range(400)
    )
    assert false_alarms / 400 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 400)
    claims = group_claims(_groups(np.random.default_rng(2), 0.0), QUANTITIES)
    assert not any(c.significant for c in claims)
    assert all(c.statement.startswith("No clear difference") for c in claims if len(c.runs) == 2)


def test_a_b_groups_find_the_difference_and_only_it():
    claims = group_claims(_groups(np.random.default_rng(3), 0.5), QUANTITIES)
    significant = [c for c in claims if c.significant]
    assert [(c.quantity, c.runs) for c in significant] == [("final_val_loss", ("A", "B"))]
    (claim,) = significant
    assert claim.ci_low < claim.estimate < claim.ci_high < 0
    assert "A's final validation loss is lower than B's" in claim.statement
    assert "Holm-adjusted" in claim.statement and "over 2 comparisons" in claim.statement


def test_every_estimate_claim_carries_its_interval():
    claims = group_claims(_groups(np.random.default_rng(4), 0.0), QUANTITIES)
    for c in claims:
        assert c.ci_low <= c.estimate <= c.ci_high
        assert "95% CI" in c.statement


def test_findings_round_trip_through_hdf5(tmp_path):
    import h5py

    from landscape.io.findings import read_findings, write_findings

    claims = group_claims(_groups(np.random.default_rng(3), 0.5), QUANTITIES)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        write_findings(f, claims, alpha=0.05, level=0.95)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        back = read_findings(f)
        assert f["findings/statement"].dtype.kind == "O"
        assert f["findings/significant"].dtype == bool
    for a, b in zip(claims, back, strict=True):
        assert a.statement == b.statement and a.runs == b.runs
        assert a.significant == b.significant
        for name in ("estimate", "ci_low", "ci_high", "p_value"):
            x, y = getattr(a, name), getattr(b, name)
            assert (math.isnan(x) and math.isnan(y)) or x == y


def test_welch_with_one_constant_group_is_the_other_groups_t_interval_without_warnings():
    import warnings

    a, b = [5.0, 5.0, 5.0], [4.0, 5.5, 6.5, 7.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's two-sample path warns of cancellation here
        d = welch_difference(a, b)
        flipped = welch_difference(b, a)
    se = np.std(b, ddof=1) / math.sqrt(len(b))  # Welch's SE with var(a) = 0
    half = sps.t.ppf(0.975, len(b) - 1) * se  # Welch-Satterthwaite df = n_b - 1
    estimate = 5.0 - np.mean(b)
    assert d.interval.estimate == pytest.approx(estimate)
    assert (d.interval.low, d.interval.high) == pytest.approx((estimate - half, estimate + half))
    p = 2 * sps.t.sf(abs(estimate) / se, len(b) - 1)
    assert d.p_value == pytest.approx(p) and flipped.p_value == pytest.approx(p)
    assert (flipped.interval.low, flipped.interval.high) == pytest.approx(
        (-estimate - half, -estimate + half)
    )


def test_mean_interval_is_cut_to_the_bounds_the_mean_can_take():
    x = [0.8, 0.95, 1.0]
    free, cut = mean_interval(x), mean_interval(x, bounds=(0.0, 1.0))
    assert free.high > 1.0 and cut.high == 1.0 and cut.low == free.low
    assert cut.estimate == free.estimate
    low = mean_interval([0.0, 0.05, 0.4], bounds=(0.0, 1.0))
    assert low.low == 0.0 and low.high == mean_interval([0.0, 0.05, 0.4]).high


def test_a_share_claim_never_has_an_interval_outside_zero_to_one():
    from landscape.report.claims import estimate_claim
    from landscape.report.findings import QUANTITIES

    share = next(q for q in QUANTITIES if q.key == "edge_share")
    claim = estimate_claim(share, "rmsprop", [0.0, 0.1, 1.0])
    assert claim.ci_low == 0.0 and claim.ci_high == 1.0
    assert "95% CI 0 to 1" in claim.statement
