"""``landscape connect --tolerance``: path points to a tolerance, errors and rows stored, resume."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from landscape.io.connect import read_connect
from landscape.pipelines import connect as pipeline
from tests import connect_specs as specs
from tests.connect.helpers import assert_resumed_equals_whole, dies_after, run

KW = {"points": 6, "batch_size": 8, "progress": False}


def connect(tmp_path, pair, name, **kw):
    return pipeline.connect(specs.mlp(), *pair, specs.data(), out=tmp_path / name, **KW, **kw)


def test_tiny_tolerance_equals_the_plain_path_exactly(tmp_path, pair):
    plain = connect(tmp_path, pair, "plain.h5").paths["linear"].values
    tight = connect(tmp_path, pair, "tight.h5", tolerance=1e-12).paths["linear"].values
    for name, values in plain.items():
        np.testing.assert_array_equal(tight[name], values)
        assert (tight[f"{name}_se"] == 0).all()
    assert (tight["train_rows"] == 240).all() and (tight["test_rows"] == 97).all()


def test_loose_tolerance_stops_early_within_its_errors_and_a_is_exact(tmp_path):
    # 5 Adam steps: losses of skewness ~0.3; the 150-step pair's (~4) needs all 240 rows
    # by Cochran's rule n >= 25 G1^2 (test_skewed_losses_use_every_row)
    pair = (
        specs.trained(specs.mlp, 0, tmp_path / "a.pt", steps=5),
        specs.trained(specs.mlp, 1, tmp_path / "b.pt", steps=5),
    )
    plain = connect(tmp_path, pair, "plain.h5").paths["linear"].values
    c = connect(tmp_path, pair, "loose.h5", tolerance=0.1)
    loose = c.paths["linear"].values
    assert (loose["train_rows"] < 240).any()
    assert loose["train_rows"][0] == 240 and loose["train_loss"][0] == plain["train_loss"][0]
    for split in ("train", "test"):
        error = np.abs(loose[f"{split}_loss"] - plain[f"{split}_loss"])
        assert (error <= 4 * loose[f"{split}_loss_se"] + 1e-12).all()
    with h5py.File(c.path, "r") as f:
        assert json.loads(f["connect"].attrs["config"])["tolerance"] == 0.1
        assert {"train_loss_se", "train_acc_se", "train_rows"} <= set(f["connect/linear"])


def test_skewed_losses_use_every_row(tmp_path, pair):
    plain = connect(tmp_path, pair, "plain.h5").paths["linear"].values
    loose = connect(tmp_path, pair, "loose.h5", tolerance=0.1).paths["linear"].values
    assert (loose["train_rows"] == 240).all() and (loose["train_loss_se"] == 0).all()
    np.testing.assert_array_equal(loose["train_loss"], plain["train_loss"])


def test_recomputed_batchnorm_start_is_exact(tmp_path):
    a = specs.trained(specs.mlp_bn, 0, tmp_path / "a.pt", steps=30)
    b = specs.trained(specs.mlp_bn, 1, tmp_path / "b.pt", steps=30)
    kw = {**KW, "bn": "recompute"}
    plain = pipeline.connect(specs.mlp_bn(), a, b, specs.data(), out=tmp_path / "p.h5", **kw)
    loose = pipeline.connect(
        specs.mlp_bn(), a, b, specs.data(), out=tmp_path / "l.h5", tolerance=0.1, **kw
    )
    p, q = plain.paths["linear"].values, loose.paths["linear"].values
    assert q["train_loss"][0] == p["train_loss"][0] and q["train_loss_se"][0] == 0


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, pair, monkeypatch):
    whole = connect(tmp_path, pair, "whole.h5", tolerance=0.1)
    real = pipeline.evaluate_point
    monkeypatch.setattr(pipeline, "evaluate_point", dies_after(real, 3))
    with pytest.raises(KeyboardInterrupt):
        connect(tmp_path, pair, "part.h5", tolerance=0.1)
    assert read_connect(tmp_path / "part.h5").paths["linear"].done.sum() == 3
    monkeypatch.setattr(pipeline, "evaluate_point", real)
    resumed = connect(tmp_path, pair, "part.h5", tolerance=0.1)
    assert_resumed_equals_whole(resumed, whole)


def test_cli_tolerance_and_bad_values(tmp_path, pair):
    common = ["connect", "--model", "tests.connect_specs:mlp", "--data", "tests.connect_specs:data"]
    common += ["--checkpoint", str(pair[0]), "--target", str(pair[1]), "--points", "4"]
    out = tmp_path / "c.h5"
    res = run(*common, "--batch-size", "8", "--tolerance", "0.1", "--out", str(out))
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as f:
        assert f["connect/linear/train_rows"].shape == (4,)
    for bad in ("0", "-1", "nan"):
        res = run(*common, "--tolerance", bad, "--out", str(tmp_path / "bad.h5"))
        assert res.exit_code == 1 and "tolerance: expected a positive number" in res.output
        assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "bad.h5").exists()
