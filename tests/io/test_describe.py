import h5py
import numpy as np

from landscape.io.describe import contents, describe
from landscape.store import atomic_update, write_params


def test_contents_and_describe_of_a_file_with_several_groups(tmp_path):
    path = tmp_path / "f.h5"
    with atomic_update(path, new=True, command="landscape hessian --top-k 2") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 5)
        f["train_loss"] = np.array([1.0, np.nan, 0.5, 0.7, 2.0])
        f.create_group("surface")["done"] = np.isfinite(f["train_loss"][()])
        c = f.create_group("curvature/hessian")
        c.attrs["config"] = '{"top_k": 2, "x": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}'
        write_params(c.create_group("top").create_group("vectors"), "v0", {"w": np.ones((2, 2))})
    held = contents(path)
    assert held.groups == ("curvature", "surface", "train_loss", "xcoordinates")
    assert held.surface_ndim == 1
    text = describe(path)
    assert text.splitlines()[0] == f"{path}: landscape file, schema 1"
    assert "  1D, x: 5 points from -1 to 1" in text
    assert "  4 of 5 points done, 1 to go" in text
    assert "  train_loss: 1 NaN of 5; min 0.5, max 2" in text
    assert "  command: landscape hessian --top-k 2" in text
    assert "      x: [0, 1, 2, ..., 8, 9] (10 values)" in text
    assert "v0/  1 named tensors, 4 values (-v lists them)" in text
    assert "w  float64 (2, 2)" in describe(path, verbose=True)


def test_contents_of_a_2d_surface_and_of_no_surface(tmp_path):
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        f["xcoordinates"] = np.zeros(2)
        f["ycoordinates"] = np.zeros(3)
    assert contents(path).surface_ndim == 2
    with h5py.File(path, "w") as f:
        f.create_group("xcoordinates")
    assert contents(path) == type(contents(path))(("xcoordinates",), None)
