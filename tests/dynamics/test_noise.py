import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats as sps

from landscape.dynamics.diagnose import detect_overfitting, diagnose
from landscape.dynamics.stability import detect_edge_of_stability, edge_stretches
from landscape.dynamics.trends import noise_level, smooth, trend
from tests.dynamics.test_diagnose import synthetic_run


@pytest.mark.parametrize("sigma", [0.01, 0.3])
def test_noise_level_recovers_sigma_within_three_standard_errors(sigma):
    rng = np.random.default_rng(5)
    n = 20000
    y = np.exp(-np.arange(n) / 5000) + rng.normal(0, sigma, n)
    # the MAD estimator's relative standard error is about 1.17 / sqrt(n - 1) for the differences
    assert noise_level(y) == pytest.approx(sigma, rel=3 * 1.2 / math.sqrt(n))


def test_trend_p_values_equal_t_test_by_hand():
    rng = np.random.default_rng(0)
    x = np.arange(12.0)
    y = 0.05 * x + rng.normal(0, 0.2, 12)
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    se = math.sqrt(resid @ resid / 10 / ((x - x.mean()) @ (x - x.mean())))
    tr = trend(x, y)
    assert tr.slope == pytest.approx(slope, rel=1e-10) and tr.stderr == pytest.approx(se, rel=1e-10)
    assert tr.p_rise == pytest.approx(sps.t.sf(slope / se, 10), rel=1e-10)
    assert tr.p_rise + tr.p_fall == pytest.approx(1.0)


def test_smooth_is_a_centred_mean():
    y = np.array([1.0, 2.0, 6.0, 2.0, 1.0])
    assert smooth(y, 3).tolist() == [1.5, 3.0, 10 / 3, 3.0, 1.5]


E = np.arange(21)
TRAIN_FALLING = 0.7 * np.exp(-E / 8) + 0.3


def test_overfitting_fires_on_a_sustained_rise_through_noise():
    rng = np.random.default_rng(1)
    val = 1 + np.maximum(E - 8, 0) * 0.05 + rng.normal(0, 0.02, E.size)
    found = detect_overfitting(E, TRAIN_FALLING, val)
    assert found is not None and found.start_epoch <= 10  # the flat stretch before the rise
    assert "noise" in found.detail and "p =" in found.detail


def test_oscillation_at_the_edge_is_not_overfitting():
    # the case: validation loss oscillating by +-0.4 with a higher last value, and a
    # training loss that rose to 1.09 then "fell" from 0.705 to 0.695
    rng = np.random.default_rng(2)
    val = 1.0 + 0.4 * np.sign(np.sin(1.7 * E)) + rng.normal(0, 0.05, E.size)
    val[-1] = 1.4
    train = np.concatenate([np.linspace(2.3, 0.705, 10), np.linspace(1.089, 0.695, 11)])
    assert val[-1] > val.min() * 1.05  # the old endpoint comparison fired here
    assert detect_overfitting(E, train, val) is None
    assert detect_overfitting(E, TRAIN_FALLING, val) is None


def test_no_overfitting_without_a_falling_training_loss():
    val = 1 + np.maximum(E - 8, 0) * 0.05
    assert detect_overfitting(E, np.full(E.size, 0.3) + 1e-3 * np.sin(E), val) is None


def test_edge_stretches_and_findings_known_spans():
    s = np.array([0.5, 1.0, 1.85, 2.1, 1.9, 2.0, 1.2, 1.95, 1.99])
    stretches = edge_stretches(s, np.full(9, 2.0), band=0.1, min_records=3)
    assert [(x.start, x.end, x.records) for x in stretches] == [(2, 5, 4)]
    assert stretches[0].median_ratio == pytest.approx(np.median(s[2:6] / 2.0))
    assert edge_stretches(s, np.full(9, 2.0), band=0.1, min_records=2)[-1].start == 7
    assert edge_stretches(s, np.full(9, 4.0)) == []
    f = detect_edge_of_stability(
        np.arange(9) // 3, np.arange(9) * 5, s, np.full(9, 2.0), measure="m"
    )
    assert [(x.start_epoch, x.end_epoch) for x in f] == [(0, 1)]
    assert "steps 10-25" in f[0].detail


def _probed(run, lam, precond, threshold):
    steps = np.arange(lam.size) * 10
    probes = {
        "step": steps,
        "lambda_max": lam,
        "precond_lambda_max": precond,
        "stability_threshold": threshold,
    }
    return replace(run, probes=probes)


def test_diagnose_names_the_edge_with_the_right_measure():
    n = 8
    run = synthetic_run(train_loss=np.linspace(2, 1, n), step=np.arange(n) * 10)
    lam = np.array([5, 12, 19, 20, 19.5, 20.2, 19.8, 20.0])
    gd = diagnose(_probed(run, lam, np.full(n, np.nan), np.full(n, 20.0)))
    (edge,) = [f for f in gd.findings if f.kind == "edge of stability"]
    assert edge.start_epoch == 2 and edge.end_epoch == 7 and edge.detail.startswith("λ_max")
    precond = np.array([np.nan, 100, 300, 370, 380, 379, 381, 380])
    adam = diagnose(_probed(run, np.full(n, 3.0), precond, np.full(n, 380.0)))
    (edge,) = [f for f in adam.findings if f.kind == "edge of stability"]
    assert edge.detail.startswith("preconditioned λ_max") and edge.start_epoch == 3
    below = diagnose(_probed(run, lam / 2, np.full(n, np.nan), np.full(n, 20.0)))
    assert not [f for f in below.findings if f.kind == "edge of stability"]


def test_adaptive_sharpness_from_checkpoints_leaves_out_the_initial_point():
    from landscape.dynamics.summary import stability_series
    from landscape.records import CurvatureSeries

    n = 4
    run = replace(synthetic_run(train_loss=np.linspace(2, 1, n)), optimizer="adagrad")
    curv = CurvatureSeries(
        epoch=np.arange(n),
        step=np.arange(n) * 10,
        lambda_max=np.full(n, 3.0),
        precond_lambda_max=np.array([5.7e9, 30.0, 31.0, 29.0]),  # zero accumulators at step 0
        threshold=np.full(n, 40.0),
        trace=np.nan,
        trace_stderr=np.nan,
    )
    stab = stability_series(run, curv)
    assert stab.source == "checkpoints" and stab.preconditioned
    assert np.isnan(stab.sharpness[0]) and stab.sharpness[1:].tolist() == [30.0, 31.0, 29.0]
    sgd = stability_series(replace(run, optimizer="sgd"), curv)
    assert sgd.sharpness.tolist() == [3.0] * n
