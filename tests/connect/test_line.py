"""``landscape connect`` along the straight line: values, barrier, file, CLI, bad input."""

from __future__ import annotations

import copy

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from landscape.connect.barrier import loss_barrier
from landscape.errors import LandscapeError
from landscape.io.connect import read_connect
from landscape.pipelines import connect as pipeline
from tests import connect_specs as specs
from tests.connect.helpers import assert_resumed_equals_whole, dies_after, run

DATA = "tests.connect_specs:data"


def plain_losses(factory, a_path, b_path, t, *, split="train", recompute=False):
    """The oracle: load (1-t) A + t B (buffers too) into a fresh model and evaluate it."""
    a, b = torch.load(a_path), torch.load(b_path)
    x, y = specs.data()[split]
    x_train = specs.data()["train"][0]
    out = []
    for ti in t:
        model = factory()
        state = {k: (1 - ti) * a[k] + ti * b[k] if a[k].is_floating_point() else a[k] for k in a}
        model.load_state_dict(state)
        if recompute:
            for m in model.modules():
                if isinstance(m, nn.BatchNorm1d):
                    m.reset_running_stats()
                    m.momentum = None
            model.train()
            with torch.no_grad():
                model(x_train)
        model.eval()
        with torch.no_grad():
            out.append(float(nn.functional.cross_entropy(model(x), y)))
    return np.array(out)


def test_linear_path_equals_plain_evaluation(tmp_path, pair):
    out = tmp_path / "c.h5"
    c = pipeline.connect(specs.mlp(), *pair, specs.data(), out=out, points=7, progress=False)
    t = np.linspace(0, 1, 7)
    for split in ("train", "test"):
        expected = plain_losses(specs.mlp, *pair, t, split=split)
        np.testing.assert_allclose(c.paths["linear"].values[f"{split}_loss"], expected, rtol=1e-5)
        b = loss_barrier(t, expected)
        key = "linear" if split == "train" else "linear_test"
        assert c.barriers[f"{key}_barrier"] == pytest.approx(b.height, rel=1e-4, abs=1e-6)
        assert c.barriers[f"{key}_barrier_t"] == b.t
    assert c.barriers["linear_barrier"] > 0.01  # independently trained: a real barrier
    assert c.paths["linear"].done.all()


@pytest.mark.parametrize("bn", ["interp", "recompute"])
def test_batchnorm_statistics_interpolated_or_recomputed(tmp_path, bn):
    a = specs.trained(specs.mlp_bn, 0, tmp_path / "a.pt", steps=30)
    b = specs.trained(specs.mlp_bn, 1, tmp_path / "b.pt", steps=30)
    c = pipeline.connect(
        specs.mlp_bn(), a, b, specs.data(), out=tmp_path / "c.h5", points=5, bn=bn, progress=False
    )
    expected = plain_losses(specs.mlp_bn, a, b, np.linspace(0, 1, 5), recompute=bn == "recompute")
    np.testing.assert_allclose(c.paths["linear"].values["train_loss"], expected, rtol=1e-5)


def test_barrier_closed_form():
    b = loss_barrier(np.array([0.0, 0.25, 0.5, 0.75, 1.0]), np.array([1.0, 2.0, 3.5, 2.0, 3.0]))
    assert b.height == pytest.approx(1.5) and b.t == 0.5  # above the chord 1 + 2t
    assert loss_barrier(np.linspace(0, 1, 3), np.array([2.0, 1.0, 0.0])).height == 0.0


def test_interrupted_evaluation_resumes_to_the_same_values(tmp_path, pair, monkeypatch):
    whole = pipeline.connect(
        specs.mlp(), *pair, specs.data(), out=tmp_path / "whole.h5", points=6, progress=False
    )
    real = pipeline.evaluate_point
    out = tmp_path / "part.h5"
    monkeypatch.setattr(pipeline, "evaluate_point", dies_after(real, 3))
    with pytest.raises(KeyboardInterrupt):
        pipeline.connect(specs.mlp(), *pair, specs.data(), out=out, points=6, progress=False)
    assert read_connect(out).paths["linear"].done.sum() == 3
    monkeypatch.setattr(pipeline, "evaluate_point", real)
    resumed = pipeline.connect(specs.mlp(), *pair, specs.data(), out=out, points=6, progress=False)
    assert_resumed_equals_whole(resumed, whole)


def test_cli_writes_the_connect_group_and_refuses_other_settings(tmp_path, pair):
    out = tmp_path / "c.h5"
    common = ["--model", "tests.connect_specs:mlp", "--data", DATA, "--checkpoint", str(pair[0])]
    res = run("connect", *common, "--target", str(pair[1]), "--points", "5", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "linear barrier:" in res.output
    with h5py.File(out, "r") as f:
        g = f["connect"]
        assert g["t"][()].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
        assert set(g["linear"]) == {"train_loss", "train_acc", "test_loss", "test_acc", "done"}
        assert {"linear_barrier", "linear_barrier_t", "linear_test_barrier"} <= set(g.attrs)
        assert "connect" in f.attrs["command"]
    before = out.read_bytes()
    res = run("connect", *common, "--target", str(pair[1]), "--points", "6", "--out", str(out))
    assert res.exit_code == 1 and "different settings (points)" in res.output
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--points", "2"], "at least 3 points"),
        (["--model", "tests.connect_specs:cnn"], "does not fit the model"),
    ],
)
def test_bad_input_gets_one_line_and_writes_nothing(tmp_path, pair, extra, message):
    out = tmp_path / "c.h5"
    args = ["--model", "tests.connect_specs:mlp", "--data", DATA, "--checkpoint", str(pair[0])]
    res = run("connect", *args, "--target", str(pair[1]), "--out", str(out), *extra)
    assert res.exit_code == 1
    assert message in res.output and len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_different_architectures_refused(tmp_path, pair):
    other = specs.trained(specs.cnn, 0, tmp_path / "cnn.pt", steps=1)
    with pytest.raises(LandscapeError, match="does not fit the model"):
        pipeline.connect(
            specs.mlp(), pair[0], other, specs.data(), out=tmp_path / "c.h5", progress=False
        )
    assert not (tmp_path / "c.h5").exists()


def test_the_users_model_is_not_modified(tmp_path, pair):
    model = specs.mlp()
    before = copy.deepcopy(model.state_dict())
    pipeline.connect(model, *pair, specs.data(), out=tmp_path / "c.h5", points=3, progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
