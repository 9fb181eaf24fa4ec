"""``compare`` on synthetic runs with known curves (Recorder-written, fake sharpness probe).

Exact answers: the A/A pair (one setup, other seeds) gives no significant finding and no
ranked sentence; the A/B pair names its difference with the test; the time at the edge
of stability equals the synthetic stretch; the matched-loss checkpoint is the known one;
targets are half the median initial loss; an adaptive method's huge step-0 sharpness is
no stay at the edge; the Li et al. weight-norm rule fires and does not fire as it must.
"""

import h5py
import numpy as np
import pytest

from landscape.io.compare import read_stored_findings
from landscape.pipelines.compare import CompareConfig, compare
from landscape.report.explain import explain
from landscape.report.findings import findings_text
from tests.pipelines.synthetic_runs import SPECS, STEPS_PER_EPOCH, write_run

FAST = dict(
    curvature_samples=50,
    sharpness_batches=2,
    max_checkpoints=6,
    trace_probes=2,
    spectrum_k=2,
    density_runs=1,
    density_steps=4,
    tol=1e-4,
)
NOISE = {0: 0.0, 1: 0.02, 2: -0.02, 3: 0.01, 4: -0.01, 5: 0.015}
A_TRAIN = [2.0, 1.6, 1.3, 1.1, 1.0, 0.9]
B_TRAIN = [2.0, 1.4, 1.0, 0.7, 0.55, 0.5]
B_RATIOS = [0.2, 0.5, 0.95, 1.02, 0.97, 0.3]  # records 2-4: one stretch, epochs 2-4
A_RATIOS = [0.2, 0.3, 0.4, 0.5, 0.5, 0.5]


def _group(root, name, seeds, train, ratios, **kw):
    for s in seeds:
        loss = [v + NOISE[s] for v in train]
        write_run(
            root / name / f"seed-{s}",
            train_loss=loss,
            val_loss=[v + 0.2 for v in loss],
            ratios=ratios,
            seed=s,
            **kw,
        )
    return root / name


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    groups = [
        _group(root, "a", (0, 1, 2), A_TRAIN, A_RATIOS),
        _group(root, "a_again", (3, 4, 5), A_TRAIN, A_RATIOS),
        _group(root, "b", (0, 1, 2), B_TRAIN, B_RATIOS),
    ]
    out = root / "out"
    c = compare(groups, out, CompareConfig(**FAST), **SPECS, profiles=False, progress=False)
    return c, out


def _differences(stored, pair, quantity=None):
    return [
        c
        for c in stored.claims
        if set(c.runs) == set(pair) and (quantity is None or c.quantity == quantity)
    ]


def test_same_setup_other_seeds_no_finding_and_no_ranking(three):
    c, out = three
    stored = read_stored_findings(out / "compare.h5")
    aa = _differences(stored, ("a", "a_again"))
    assert aa and not any(d.significant for d in aa)
    sentences = explain(c)
    ranked = [s for s in sentences if "'s is higher than" in s]
    assert not any("a_again's" in s and "a's" in s.split("a_again's", 1)[1][:20] for s in ranked)
    for s in ranked:  # every ranked sentence names b, never the a/a_again pair
        for part in s.split("; "):
            if "'s is higher than" in part:
                assert "b's" in part, part


def test_other_setup_named_with_its_test(three):
    c, out = three
    stored = read_stored_findings(out / "compare.h5")
    (train,) = _differences(stored, ("a", "b"), "final_train_loss")
    assert train.significant and train.estimate == pytest.approx(0.4)
    (sentence,) = [s for s in explain(c) if s.startswith("The final training loss differs")]
    assert "a's is higher than b's by 0.4" in sentence and "Welch t-test" in sentence
    assert "Holm-adjusted" in sentence and "no clear difference in the other 1 pair (" in sentence


def test_edge_time_equals_the_synthetic_stretch(three):
    c, _ = three
    total = STEPS_PER_EPOCH * (len(B_TRAIN) - 1)
    for r in c.runs:
        s = r.summary
        if s.name.startswith("b-"):
            assert (s.edge_epoch, s.edge_end_epoch) == (2, 4)
            assert s.edge_steps == 2 * STEPS_PER_EPOCH and s.edge_epochs == 2.0
            assert s.edge_share == pytest.approx(2 * STEPS_PER_EPOCH / total)
            assert s.edge_median_ratio == pytest.approx(0.97)
        else:
            assert s.edge_epoch is None and s.edge_steps == 0 and s.edge_share == 0.0
    stored = read_stored_findings(c.path)
    (share,) = [x for x in stored.claims if x.quantity == "edge_share" and x.runs == ("b",)]
    assert share.estimate == pytest.approx(0.4)
    (edge,) = [s for s in explain(c) if s.startswith("b sat at the edge")]
    assert "in 3 of 3 runs" in edge and "share of training at the edge 0.4" in edge


def test_matched_loss_checkpoint_and_targets(three):
    c, _ = three
    # the largest of the runs' lowest training losses: a's seed 1 ends at 0.92
    assert c.matched_loss == pytest.approx(A_TRAIN[-1] + NOISE[1])
    with h5py.File(c.path, "r") as f:
        for r in c.runs:
            s = r.summary
            expected = 3 if s.name.startswith("b-") else 5  # b: 0.7 + noise at epoch 3
            assert s.matched_epoch == expected, s.name
            g = f["curvature"][s.name]
            i = int(np.flatnonzero(g["epoch"][()] == expected)[0])
            assert s.lambda_max_matched == g["lambda_max"][i]
            assert s.matched_train_loss == pytest.approx(r.series.train_loss[expected])
    assert c.train_target == pytest.approx(0.5 * 2.0)  # half the median initial loss
    assert "0.5 x the runs' median initial training loss" in c.targets


def test_sharpness_sample_weights_and_spectra_stored(three):
    c, _ = three
    for r in c.runs:
        s = r.summary
        assert s.curvature_rows == 50 and s.curvature_full
        assert np.isfinite(s.lambda_max_stderr) and s.lambda_max_stderr > 0
        assert r.weights is not None and len(r.weights.norm) == len(A_TRAIN)
        assert r.weights.norm[-1] == pytest.approx(s.weight_norm)
        assert r.spectrum is not None and r.spectrum.top[0] == pytest.approx(s.lambda_max, 1e-3)
        assert len(r.spectrum.top) == 2 and r.spectrum.density.size == r.spectrum.grid.size > 0
        assert np.trapezoid(r.spectrum.density, r.spectrum.grid) == pytest.approx(1.0, abs=1e-3)
    (lam,) = [s for s in explain(c) if "final λ_max" in s]
    assert "on the full training split (50 rows)" in lam


def test_adaptive_step0_spike_is_no_stay_at_the_edge(tmp_path):
    run = write_run(
        tmp_path / "adagrad" / "seed-0",
        train_loss=A_TRAIN,
        val_loss=A_TRAIN,
        ratios=[8.8e7, 2.0, 2.0, 0.3, 0.3, 0.3],  # step 0 (undefined) + two records: no stretch
        optimizer="adagrad",
    )
    c = compare(
        [run],
        tmp_path / "out",
        CompareConfig(**{**FAST, "spectrum_k": 0, "density_runs": 0, "sharpness_batches": 0}),
        **SPECS,
        profiles=False,
        progress=False,
    )
    (r,) = c.runs
    assert np.isnan(r.stability.sharpness[0]) and r.summary.max_stability_ratio == 2.0
    assert r.summary.edge_epoch is None and r.summary.edge_steps == 0
    sentences = explain(c)
    assert not any("8.8e+07" in s or s.startswith("adagrad sat") for s in sentences)
    assert any(s.startswith("No run sat at the edge of stability") for s in sentences)


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    root = tmp_path_factory.mktemp("scaled")
    loss = [1.5, 1.3, 1.2, 1.1, 1.05, 1.0]
    for name, scale, seeds in (
        ("small", 1.0, (0, 1, 2)),
        ("x5", 5.0, (3, 4, 5)),
        ("x40", 40.0, (3, 4, 5)),
    ):
        for s in seeds:
            write_run(
                root / name / f"seed-{s}", train_loss=loss, val_loss=loss, seed=s, scale=scale
            )
    return root


@pytest.mark.parametrize("big,fires", [("x40", True), ("x5", False)])
def test_weight_norm_rule_through_compare(scaled, big, fires):
    config = CompareConfig(
        **{**FAST, "max_checkpoints": 2, "spectrum_k": 0, "density_runs": 0},
        profile_grid="-0.5:0.5:3",
    )
    c = compare(
        [scaled / "small", scaled / big], scaled / f"out-{big}", config, **SPECS, progress=False
    )
    stored = read_stored_findings(c.path)
    (norm,) = _differences(stored, ("small", big), "weight_norm")
    (rise,) = _differences(stored, ("small", big), "profile_rise")
    assert norm.significant and rise.significant  # larger weights, steeper profile in both
    (lam,) = _differences(stored, ("small", big), "lambda_max")
    assert lam.significant is not fires  # x5: raw λ_max also higher, nothing to reconcile
    mechanisms = findings_text(c).mechanisms
    li = [m for m in mechanisms if "Li et al. 2018" in m]
    assert bool(li) is fires
    if fires:
        assert li[0].startswith(f"{big}'s filter-normalized profile rises more steeply")
