import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from landscape.cli import cli
from landscape.dynamics.runs import read_run

BASE = ["-q", "train", "--max-samples", "48", "--optimizer", "sgd", "--lr", "0.05"]


def test_full_batch_is_one_step_per_epoch_and_eval_every_skips_epochs(tmp_path):
    out = tmp_path / "gd"
    args = [*BASE, "--batch-size", "full", "--epochs", "5", "--eval-every", "2", "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    run = read_run(out)
    assert run.epochs["step"].tolist() == [0, 1, 2, 3, 4, 5]  # one step per epoch
    evaluated = np.isfinite(run.epochs["train_loss"])
    assert evaluated.tolist() == [True, False, True, False, True, True]  # 0, 2, 4 and the last
    assert np.isfinite(run.epochs["mean_step_loss"][1:]).all()  # every step still recorded
    with h5py.File(out / "run.h5", "r") as f:
        config = json.loads(f["dynamics"].attrs["config"])
    assert config["batch_size"] is None and config["eval_every"] == 2


def test_full_batch_equals_a_batch_as_large_as_the_split(tmp_path):
    common = [*BASE, "--epochs", "2"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert (
        CliRunner().invoke(cli, [*common, "--batch-size", "full", "--out", str(a)]).exit_code == 0
    )
    assert CliRunner().invoke(cli, [*common, "--batch-size", "48", "--out", str(b)]).exit_code == 0
    np.testing.assert_array_equal(
        read_run(a).epochs["train_loss"], read_run(b).epochs["train_loss"]
    )


def test_default_eval_every_is_not_stored(tmp_path):
    out = tmp_path / "r"
    assert CliRunner().invoke(cli, [*BASE, "--epochs", "1", "--out", str(out)]).exit_code == 0
    with h5py.File(out / "run.h5", "r") as f:
        assert "eval_every" not in json.loads(f["dynamics"].attrs["config"])


@pytest.mark.parametrize("spec", ["0", "half", "-3"])
def test_bad_batch_size_one_line(tmp_path, spec):
    out = tmp_path / "r"
    res = CliRunner().invoke(cli, [*BASE, "--batch-size", spec, "--out", str(out)])
    assert res.exit_code == 1 and "batch-size: expected" in res.output
    assert not out.exists()
