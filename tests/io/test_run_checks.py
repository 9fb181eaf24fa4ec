"""What a run file may hold: one clear line for each way a crafted one is wrong."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.io.run import RunHeader, append_records, create_run_file, read_run_file


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "run.h5"
    header = RunHeader('{"lr": 0.1}', "sgd", {"lr": 0.1}, ("w", "b"), ((2,), (1,)), grad_every=1)
    create_run_file(path, header, {"w": np.zeros(2), "b": np.zeros(1)})
    epochs = {"epoch": np.array([0, 1]), "step": np.array([0, 4]), "train_loss": np.ones(2)}
    append_records(path, epochs={**epochs, "weight_norm": np.ones((2, 2))})
    append_records(path, steps={"step": np.arange(1, 5), "loss": np.array([1.0, np.nan, 2, 3])})
    return path


def test_a_well_formed_file_reads_nan_losses_included(path: Path) -> None:
    run = read_run_file(path)
    assert run.layers == ("w", "b") and run.shapes == ((2,), (1,))
    assert run.epochs["weight_norm"].shape == (2, 2)
    assert np.isnan(run.steps["loss"][1])


def _edit(path: Path, name: str, value: object) -> None:
    with h5py.File(path, "r+") as f:
        if name.startswith("@"):
            f["dynamics"].attrs[name[1:]] = value
        else:
            del f[name]
            f[name] = value


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("@config", np.bytes_(b"\xff{"), r"/dynamics/@config is not valid UTF-8"),
        ("@config", "[1, 2]", r"/dynamics/@config is a JSON list; expected a dict"),
        ("@layers", "[not json", r"/dynamics/@layers is not JSON"),
        ("@layers", "[1, 2]", r"/dynamics/@layers must list layer names"),
        ("@shapes", "[[2], [-1]]", r"/dynamics/@shapes must hold one list of whole numbers"),
        ("@optimizer", 3, r"/dynamics/@optimizer is int64; expected text"),
        ("@grad_every", 0, r"/dynamics/@grad_every must be a positive whole number"),
        ("dynamics/epoch/train_loss", np.ones(3), r"train_loss has 3 rows, the table's other"),
        ("dynamics/epoch/train_loss", np.ones((2, 2)), r"train_loss has shape \(2, 2\); expected"),
        (
            "dynamics/epoch/weight_norm",
            np.ones((2, 3)),
            r"weight_norm has shape \(2, 3\); expected",
        ),
        ("dynamics/step/loss", np.array([b"a"] * 4), r"/dynamics/step/loss is of dtype \|S1"),
        ("dynamics/step/step", np.full(4, np.nan), r"step/step must hold finite, non-decreasing"),
        ("dynamics/epoch/epoch", np.array([1, 0]), r"epoch/epoch must hold finite, non-decreasing"),
    ],
)
def test_crafted_content_is_one_line(path: Path, name: str, value: object, message: str) -> None:
    _edit(path, name, value)
    with pytest.raises(LandscapeError, match=message) as err:
        read_run_file(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
