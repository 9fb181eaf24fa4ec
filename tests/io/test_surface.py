import json

import h5py
import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.io.surface import (
    create_surface_file,
    read_progress,
    read_surface,
    store_origin,
    write_values,
)
from landscape.records import Surface

X = np.array([-1.0, 0.0, 1.0, 2.0])  # nx = 4
Y = np.array([0.1, 0.2, 0.3])  # ny = 3: non-square on purpose


def ident(x, y):
    """A value that names its coordinates: 10 * x + y."""
    xx, yy = np.meshgrid(x, y)
    return 10 * xx + yy


def write_ours(path, z, *, done=None, metrics=("train_loss",)):
    with h5py.File(path, "w") as f:
        f.attrs["schema_version"] = 1
        f.attrs["command"] = "landscape surface --x=-1:2:4"
        f["xcoordinates"] = X
        f["ycoordinates"] = Y
        for m in metrics:
            f[m] = z
        g = f.create_group("surface")
        g.attrs["metrics"] = json.dumps(list(metrics))
        g.attrs["config"] = json.dumps({"grid": "x"})
        g["done"] = np.isfinite(z) if done is None else done
        d = f.create_group("directions")
        d.attrs["kind"] = "random"
        d.attrs["norm"] = "filter"
    return path


def write_li(path, x, y):
    """Exactly what the Li et al. writer does: a (nx, ny) array filled by a flat
    index over meshgrid(x, y), with -1 for points not computed yet."""
    losses = -np.ones((len(x), len(y)))
    xx, yy = np.meshgrid(x, y)
    coords = np.c_[xx.ravel(), yy.ravel()]
    flat = losses.ravel()
    for ind in range(flat.size - 2):  # the last two points are not computed
        flat[ind] = 10 * coords[ind, 0] + coords[ind, 1]
    losses = flat.reshape(losses.shape)
    with h5py.File(path, "w") as f:
        f["xcoordinates"] = x
        f["ycoordinates"] = y
        f["train_loss"] = losses
        f["train_acc"] = np.where(losses == -1, -1, 50.0)
        f["dir_file"] = "model.h5_weights_xignore=biasbn_xnorm=filter"
    return path


def test_ours_orientation_is_iy_ix(tmp_path):
    s = read_surface(write_ours(tmp_path / "s.h5", ident(X, Y)))
    assert s.source == "landscape" and s.ndim == 2 and s.shape == (3, 4)
    z = s.values["train_loss"]
    for iy, yv in enumerate(Y):
        for ix, xv in enumerate(X):
            assert z[iy, ix] == pytest.approx(10 * xv + yv)
    assert s.done.all()
    assert s.config == {"grid": "x"}
    assert s.directions == {"kind": "random", "norm": "filter"}
    assert s.attrs["schema_version"] == 1


def test_ours_keeps_nan_and_done_mask(tmp_path):
    z = ident(X, Y)
    z[2, 3] = np.nan
    s = read_surface(write_ours(tmp_path / "s.h5", z))
    assert np.isnan(s.values["train_loss"][2, 3])
    assert s.done.sum() == 11 and not s.done[2, 3]


def test_li_non_square_file_is_reoriented_and_minus_one_is_nan(tmp_path):
    s = read_surface(write_li(tmp_path / "li.h5", X, Y))
    assert s.source == "li2018" and s.shape == (3, 4)
    z = s.values["train_loss"]
    np.testing.assert_allclose(z[:2], ident(X, Y)[:2])
    np.testing.assert_allclose(z[2, :2], ident(X, Y)[2, :2])
    assert np.isnan(z[2, 2:]).all()
    assert s.done.sum() == 10
    assert s.metrics == ["train_loss", "train_acc"]  # dir_file (a string) is not a metric
    assert s.attrs == {} and s.config == {} and s.directions == {}


def test_li_square_file(tmp_path):
    x = np.array([-1.0, 0.0, 1.0])
    s = read_surface(write_li(tmp_path / "li.h5", x, x + 0.5))
    np.testing.assert_allclose(s.values["train_loss"][0], ident(x, x + 0.5)[0])


def test_li_1d_file(tmp_path):
    with h5py.File(tmp_path / "li1.h5", "w") as f:
        f["xcoordinates"] = X
        f["train_loss"] = np.array([1.0, 0.5, -1.0, -1.0])
    s = read_surface(tmp_path / "li1.h5")
    assert s.ndim == 1 and s.y is None and s.shape == (4,)
    assert s.done.tolist() == [True, True, False, False]


def test_metric_selection(tmp_path):
    s = read_surface(write_ours(tmp_path / "s.h5", ident(X, Y), metrics=("train_acc", "test_loss")))
    assert s.metric(None)[0] == "test_loss"
    assert s.metric("train_acc")[0] == "train_acc"
    with pytest.raises(
        LandscapeError, match=r"no metric 'val_loss' \(expected one of train_acc, test_loss\)"
    ):
        s.metric("val_loss")


def test_errors(tmp_path):
    with pytest.raises(LandscapeError, match="file not found"):
        read_surface(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(LandscapeError, match="not a readable HDF5 file"):
        read_surface(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_group("curvature")
    with pytest.raises(
        LandscapeError,
        match=r"holds no surface \(expected dataset 'xcoordinates'; found curvature\)",
    ):
        read_surface(tmp_path / "other.h5")
    write_ours(tmp_path / "bad.h5", ident(X, Y).T.copy(), done=np.ones((3, 4), bool))
    with pytest.raises(LandscapeError, match=r"train_loss has shape \(4, 3\), expected \(3, 4\)"):
        read_surface(tmp_path / "bad.h5")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f["xcoordinates"] = X
    with pytest.raises(LandscapeError, match="no metric of shape"):
        read_surface(tmp_path / "empty.h5")


def test_write_resume_and_read_back_with_vectors(tmp_path):
    path = tmp_path / "s.h5"
    values = {"train_loss": np.full((3, 4), np.nan), "train_acc": np.full((3, 4), np.nan)}
    vectors = [{"w": np.ones((2, 2)), "b": np.zeros(2)}, {"w": np.eye(2), "b": np.ones(2)}]
    grid = Surface(X, Y, values, np.zeros((3, 4), bool), config={"x": X.tolist()})
    create_surface_file(path, ("random", {"seed": 0, "norm": "filter"}, vectors), grid, command="t")
    z = ident(X, Y)
    done = z > 10.25  # a pattern that tells rows from columns
    write_values(path, {"train_loss": np.where(done, z, np.nan), "train_acc": 2 * z}, done)
    stored, stored_done, stored_vectors = read_progress(path, ["train_loss"])
    np.testing.assert_array_equal(stored_done, done)
    np.testing.assert_array_equal(stored["train_loss"][done], z[done])
    assert [v["b"].tolist() for v in stored_vectors] == [[0.0, 0.0], [1.0, 1.0]]
    store_origin(path, {"train_loss": 0.5})
    before = path.read_bytes()
    store_origin(path, {"train_loss": 0.5})
    assert path.read_bytes() == before  # unchanged origin: the file is left as it was
    s = read_surface(path, with_vectors=True)
    assert s.origin == {"train_loss": 0.5} and s.config == {"x": X.tolist()}
    assert s.metrics == ["train_loss", "train_acc"] and s.directions["norm"] == "filter"
    assert s.coordinates((2, 1)) == [0.0, 0.3] and len(s.vectors) == 2
    np.testing.assert_array_equal(s.done, done)
    with h5py.File(path, "r") as f:
        assert f["surface"].attrs["ndim"] == 2
        assert f["surface/train_loss"].id == f["train_loss"].id  # a link, not a copy
    assert read_surface(path).vectors == ()


def test_vectors_need_a_landscape_surface(tmp_path):
    with pytest.raises(LandscapeError, match="not a surface file"):
        read_surface(write_li(tmp_path / "li.h5", X, Y), with_vectors=True)
    path = write_ours(tmp_path / "s.h5", ident(X, Y))
    with pytest.raises(LandscapeError, match=r"0 direction\(s\) stored for a 2D grid"):
        read_surface(path, with_vectors=True)
