import h5py
import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.io.compare import write_comparison
from landscape.io.trajectory import read_group, read_trajectory, write_trajectory
from landscape.records import Comparison, Trajectory
from landscape.store import read_params

TRAJ = Trajectory(
    coords=np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]),
    epochs=np.array([0, 1, 2]),
    steps=np.array([0, 10, 20]),
    run=np.array([0, 0, 1]),
    labels=("sgd", "adam"),
    residual=np.array([0.1, 0.0, 0.2]),
    explained_variance_ratio=np.array([0.7, 0.2]),
    origin_label="adam",
)


def equal(a, b):
    for name in ("coords", "epochs", "steps", "run", "residual", "explained_variance_ratio"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert (a.labels, a.origin_label) == (b.labels, b.origin_label)


def test_round_trip_and_replace(tmp_path):
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        write_trajectory(
            f, TRAJ, config={"a": 1}, singular_values=np.ones(3), origin={"w": np.ones(2)}
        )
        write_trajectory(
            f, TRAJ, config={"a": 2}, singular_values=np.arange(3.0), origin={"w": np.zeros(2)}
        )
    back = read_trajectory(path)
    equal(back, TRAJ)
    assert back.lambda_max is None and back.surface is None
    with h5py.File(path, "r") as f:
        g = f["trajectory"]
        assert g.attrs["config"] == '{"a": 2}' and g.attrs["origin_run"] == "adam"
        assert g["singular_values"][()].tolist() == [0.0, 1.0, 2.0]
        assert read_params(g["origin"])["w"].tolist() == [0.0, 0.0]


def test_compare_layout_reads_as_the_same_record(tmp_path):
    plane = Trajectory(
        **{**TRAJ.__dict__, "lambda_max": np.array([1.0, np.nan, 3.0]), "surface": "plane.h5"}
    )
    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as f:
        write_comparison(f, Comparison(path, {}, 1.0, 1.0, (), plane))
    with h5py.File(path, "r") as f:
        assert {"epoch", "step", "lambda_max"} <= set(f["trajectory"])
        back = read_group(f["trajectory"])
    equal(back, TRAJ)
    np.testing.assert_array_equal(back.lambda_max, plane.lambda_max)
    assert back.surface == "plane.h5"


def test_missing_trajectory(tmp_path):
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        f["xcoordinates"] = np.zeros(2)
    with pytest.raises(LandscapeError, match="no 'trajectory' group"):
        read_trajectory(path)
