"""``landscape compare`` on tiny runs: exact curvature, stored numbers, caching, bad input."""

import hashlib
import itertools
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.cli import cli
from landscape.dynamics.diagnose import Thresholds, diagnose, store_diagnosis
from landscape.dynamics.runs import read_run
from landscape.dynamics.summary import initial_fraction_target, profile_rise
from landscape.dynamics.train import TrainConfig, train
from landscape.errors import LandscapeError
from landscape.io.compare import read_comparison
from landscape.pipelines import compare as compare_module
from landscape.pipelines.compare import CompareConfig, compare
from landscape.report.document import write_report
from tests.conftest import tiny_data, tiny_net

TINY = dict(
    data="tests.conftest:tiny_data",
    model="tests.conftest:tiny_net",
    epochs=3,
    batch_size=10,
    seed=0,
)
SPECS = dict(model=TINY["model"], data=TINY["data"])
"""The runs name code (test modules), so every compare types it again."""
CONFIG = CompareConfig(
    curvature_samples=50,
    max_checkpoints=3,
    trace_probes=40,
    tol=1e-6,
    profile_grid="-1:1:5",
    profile_radius=0.5,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    train(TrainConfig(optimizer="sgd", lr=0.1, **TINY), root / "sgd", progress=False)
    train(TrainConfig(optimizer="adam", lr=0.01, **TINY), root / "adam", progress=False)
    return [root / "sgd", root / "adam"]


@pytest.fixture(scope="module")
def compared(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return compare(runs, out, CONFIG, **SPECS, progress=False), out


def dense_hessian(state):
    net = tiny_net().double()
    net.load_state_dict({k: v.double() for k, v in state.items()})
    x, y = tiny_data()["train"]
    params = {k: v.detach() for k, v in net.named_parameters()}
    names = list(params)
    shapes = [params[n].shape for n in names]
    sizes = [params[n].numel() for n in names]
    flat0 = torch.cat([params[n].reshape(-1) for n in names])

    def loss(flat):
        pieces = [p.reshape(s) for p, s in zip(flat.split(sizes), shapes, strict=True)]
        parts = dict(zip(names, pieces, strict=True))
        out = torch.func.functional_call(net, parts, (x.double(),))
        return torch.nn.functional.cross_entropy(out, y)

    return torch.func.hessian(loss)(flat0)


def test_lambda_max_and_trace_match_the_dense_hessian(compared, runs):
    c, _ = compared
    for r, d in zip(c.runs, runs, strict=True):
        state = torch.load(read_run(d).checkpoints[-1].path, weights_only=True)["model"]
        h = dense_hessian(state)
        exact = torch.linalg.eigvalsh(h)
        assert r.summary.lambda_max == pytest.approx(float(exact[-1]), rel=1e-3)
        tr = float(torch.trace(h))
        assert abs(r.summary.trace - tr) <= 5 * r.summary.trace_stderr + 1e-3 * abs(tr)


def test_distances_and_targets_follow_the_checkpoints_and_curves(compared, runs):
    c, _ = compared
    for r, d in zip(c.runs, runs, strict=True):
        run = read_run(d)
        states = [torch.load(ck.path, weights_only=True)["model"] for ck in run.checkpoints]
        flat = [torch.cat([s[k].reshape(-1).double() for k in s]) for s in states]
        assert r.summary.distance_from_init == pytest.approx(
            float((flat[-1] - flat[0]).norm()), rel=1e-6
        )
        steps = sum(float((b - a).norm()) for a, b in itertools.pairwise(flat))
        assert r.summary.distance_travelled == pytest.approx(steps, rel=1e-6)
        va = run.epochs["val_loss"]
        hit = np.flatnonzero(va <= c.val_target)
        assert r.summary.epochs_to_val_target == (
            int(run.epochs["epoch"][hit[0]]) if hit.size else None
        )
        assert r.summary.final_train_loss == pytest.approx(float(run.epochs["train_loss"][-1]))
        assert r.summary.loss_gap == pytest.approx(float(va[-1] - run.epochs["train_loss"][-1]))
    assert c.val_target == pytest.approx(  # half the median initial loss, not the runs' minima
        initial_fraction_target([read_run(d).epochs["val_loss"] for d in runs], 0.5)
    )
    assert "0.5 x the runs' median initial validation loss" in c.targets


def test_stability_uses_the_optimizer_threshold(compared):
    c, _ = compared
    sgd, adam = c.runs
    assert np.allclose(sgd.stability.threshold, 2 / 0.1)
    assert not sgd.stability.preconditioned and adam.stability.preconditioned
    assert np.allclose(adam.stability.threshold, (2 + 2 * 0.9) / (0.1 * 0.01))
    assert np.isfinite(adam.summary.precond_lambda_max)
    assert np.isnan(sgd.summary.precond_lambda_max)


def test_stored_file_round_trips_and_has_the_groups(compared):
    c, out = compared
    again = read_comparison(out / "compare.h5")
    assert [r.summary for r in again.runs] == [r.summary for r in c.runs]
    with h5py.File(out / "compare.h5", "r") as f:
        for g in ("compare", "curvature", "trajectory"):
            assert "config" in f[g].attrs, g
        for key in ("schema_version", "landscape_version", "created", "command"):
            assert key in f.attrs
        assert f["trajectory/coords"].shape == (len(f["trajectory/run"]), 2)
    for r in c.runs:
        with h5py.File(out / r.profile.path, "r") as f:
            assert np.array_equal(f["train_loss"][()], r.profile.train_loss)
            assert f["directions"].attrs["norm"] == "filter"
        p = r.profile
        assert r.summary.profile_rise == pytest.approx(profile_rise(p.x, p.train_loss, 0.5))
    plane = c.plane
    assert plane is not None and plane.labels == ("sgd", "adam")
    assert np.isfinite(plane.lambda_max[plane.run == 0][-1])


def test_rerun_reuses_cached_curvature(compared, runs, monkeypatch):
    _, out = compared

    def boom(*a, **k):
        raise AssertionError("curvature recomputed")

    monkeypatch.setattr(compare_module, "measure_curvature", boom)
    again = compare(runs, out, CONFIG, **SPECS, progress=False)
    assert (
        again.runs[0].summary.lambda_max
        == read_comparison(out / "compare.h5").runs[0].summary.lambda_max
    )


def test_other_settings_refused_and_file_untouched(compared, runs):
    _, out = compared
    before = hashlib.sha256((out / "compare.h5").read_bytes()).hexdigest()
    other = CompareConfig(**{**CONFIG.__dict__, "curvature_samples": 20})
    with pytest.raises(LandscapeError, match="different settings"):
        compare(runs, out, other, **SPECS, progress=False)
    assert hashlib.sha256((out / "compare.h5").read_bytes()).hexdigest() == before


def test_bad_input(runs, tmp_path):
    with pytest.raises(LandscapeError, match="at least one run"):
        compare([], tmp_path)
    with pytest.raises(LandscapeError, match="named twice"):
        compare([runs[0], runs[0]], tmp_path, **SPECS, progress=False)
    shutil.copytree(runs[0], tmp_path / "other" / runs[0].name)
    with pytest.raises(LandscapeError, match="distinct names"):
        compare([runs[0], tmp_path / "other" / runs[0].name], tmp_path, **SPECS, progress=False)
    with pytest.raises(LandscapeError, match="not a run"):
        compare([tmp_path / "nope"], tmp_path)
    with pytest.raises(LandscapeError, match="curvature-samples"):
        CompareConfig(curvature_samples=1)
    with pytest.raises(LandscapeError, match="edge-fraction"):
        CompareConfig(edge_fraction=2.0)
    with pytest.raises(LandscapeError, match="plane-resolution"):
        CompareConfig(plane_resolution=1)


def test_cli_compare_writes_report_and_rejects_bad_input(runs, tmp_path):
    out = tmp_path / "rep"
    rest = ["--max-checkpoints", "2", "--trace-probes", "4", "--profile-grid=-1:1:3"]
    specs = ["--model", TINY["model"], "--data", TINY["data"]]
    args = ["-q", "compare", *map(str, runs), "--out", str(out), *specs, *rest]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "report:" in res.output
    for name in (
        "compare.h5",
        "index.html",
        "report.md",
        "figures/convergence.png",
        "figures/paths.pdf",
    ):
        assert (out / name).is_file(), name
    with h5py.File(out / "compare.h5", "r") as f:
        assert "compare" in f and f.attrs["command"].startswith("landscape")
    bad = CliRunner().invoke(
        cli, ["compare", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]
    )
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    assert bad.output.strip().count("\n") == 0 and "not a run" in bad.output
    changed = CliRunner().invoke(cli, [*args, "--curvature-samples", "30"])
    assert changed.exit_code == 1 and "different settings" in changed.output


def train_only_data():
    return tiny_data()["train"]


def test_runs_without_validation_split(tmp_path):
    cfg = dict(TINY, data="tests.pipelines.test_compare:train_only_data", epochs=2)
    train(TrainConfig(optimizer="sgd", lr=0.1, **cfg), tmp_path / "a", progress=False)
    train(TrainConfig(optimizer="rmsprop", lr=0.01, **cfg), tmp_path / "b", progress=False)
    small = CompareConfig(curvature_samples=50, trace_probes=4, profile_grid="-1:1:3")
    c = compare(
        [tmp_path / "a", tmp_path / "b"],
        tmp_path / "out",
        small,
        model=TINY["model"],
        data=cfg["data"],
        progress=False,
    )
    assert np.isnan(c.val_target) and all(r.summary.epochs_to_val_target is None for r in c.runs)
    files = write_report(c, tmp_path / "out")
    assert not any("validation-loss target" in s for s in files.sentences)
    assert any("training-loss target" in s for s in files.sentences)


def test_report_package_reads_files_without_torch():
    """The compare pipeline lives in landscape.pipelines: nothing in landscape.report imports torch."""
    code = (
        "import importlib, pkgutil, sys; import landscape.report as r; "
        "[importlib.import_module('landscape.report.' + m.name) for m in pkgutil.iter_modules(r.__path__)]; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_one_diagnosis_per_run_the_stored_one(runs, tmp_path):
    """A run diagnosed with its own thresholds keeps that diagnosis in compare, as in plot."""
    copy = tmp_path / "sgd"
    shutil.copytree(runs[0], copy)
    stored = diagnose(read_run(copy), Thresholds(fast_rate=0.9))
    assert stored.phases != diagnose(read_run(copy)).phases  # the defaults tell another story
    store_diagnosis(copy, stored)
    small = CompareConfig(curvature_samples=20, max_checkpoints=2, trace_probes=2)
    c = compare([copy], tmp_path / "out", small, **SPECS, profiles=False, progress=False)
    assert c.runs[0].summary.phases == stored.phases
    assert c.runs[0].summary.findings == stored.findings
