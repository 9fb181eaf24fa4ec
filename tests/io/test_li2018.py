"""Genuine files of the Li et al. 2018 reference code (tests/fixtures/li2018/README.md)."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.io.describe import contents, describe
from landscape.io.li2018 import (
    decode,
    in_their_units,
    is_direction_path,
    is_li2018,
    read_direction_file,
    write_direction_file,
)
from landscape.io.surface import create_surface_file, read_surface, write_values
from landscape.records import Surface

LI = Path(__file__).resolve().parents[1] / "fixtures" / "li2018"
X2D, Y2D = np.linspace(-1, 1, 11), np.linspace(-0.5, 0.5, 7)


@pytest.mark.parametrize("name", ["li_full2d", "li_part2d", "li_sq2d", "li_full1d", "li_part1d"])
def test_their_files_are_recognised_and_ours_are_not(name, tmp_path):
    with h5py.File(LI / f"{name}.h5", "r") as f:
        assert is_li2018(f)
    ours = tmp_path / "ours.h5"
    with h5py.File(ours, "w") as f:
        f["xcoordinates"] = X2D
        f.attrs["schema_version"] = 1
    with h5py.File(ours, "r") as f:
        assert not is_li2018(f)
    with h5py.File(LI / "li_part2d_dirs.h5", "r") as f:
        assert not is_li2018(f)


def test_non_square_full_file_reads_as_iy_ix():
    s = read_surface(LI / "li_full2d.h5")
    assert s.source == "li2018" and s.attrs == {} and s.config == {}
    np.testing.assert_allclose(s.x, X2D)
    np.testing.assert_allclose(s.y, Y2D)
    assert s.shape == (7, 11) and s.complete
    assert s.metrics == ["train_loss", "train_acc", "test_loss", "test_acc"]
    for name, z in s.values.items():
        assert z.shape == (7, 11) and np.isfinite(z).all(), name
    assert ((s.values["train_acc"] >= 0) & (s.values["train_acc"] <= 1)).all()
    with h5py.File(LI / "li_full2d.h5", "r") as f:  # theirs are percent, read as fractions
        raw = f["train_acc"][()].reshape(7, 11)
    np.testing.assert_allclose(s.values["train_acc"], raw / 100)
    assert raw.max() > 1


def test_partial_file_done_in_their_fill_order():
    """Their writer fills a flat index over meshgrid(x, y): whole rows of y first.

    30 of 77 points were computed before the stop: rows iy = 0, 1 (22 points) and the
    first 8 columns of row iy = 2, which only the [iy, ix] reading puts there.
    """
    part = read_surface(LI / "li_part2d.h5")
    expected = np.zeros((7, 11), bool)
    expected[:2] = True
    expected[2, :8] = True
    np.testing.assert_array_equal(part.done, expected)
    assert np.isnan(part.values["train_loss"]).sum() == 47
    full = read_surface(LI / "li_full2d.h5")
    for name in ("train_loss", "train_acc"):
        np.testing.assert_array_equal(part.values[name][expected], full.values[name][expected])


def test_partial_test_split_sets_the_done_mask():
    s = read_surface(LI / "li_part2d_test.h5")
    assert np.isfinite(s.values["train_loss"]).all()
    assert int(np.isfinite(s.values["test_loss"]).sum()) == 20 == int(s.done.sum())
    np.testing.assert_array_equal(s.done, np.isfinite(s.values["test_loss"]))


def test_square_and_1d_files():
    sq = read_surface(LI / "li_sq2d.h5")
    assert sq.shape == (7, 7) and sq.complete
    with h5py.File(LI / "li_sq2d.h5", "r") as f:
        np.testing.assert_array_equal(sq.values["train_loss"], f["train_loss"][()])
    full, part = read_surface(LI / "li_full1d.h5"), read_surface(LI / "li_part1d.h5")
    assert full.y is None and full.shape == (21,) and full.complete
    np.testing.assert_allclose(full.x, np.linspace(-1, 1, 21))
    assert int(np.isnan(part.values["test_loss"]).sum()) == 12 and not part.complete
    assert np.isfinite(part.values["train_loss"]).all()


def test_direction_file_is_no_surface():
    with pytest.raises(LandscapeError, match="holds no surface"):
        read_surface(LI / "li_part2d_dirs.h5")
    assert contents(LI / "li_part2d_dirs.h5").surface_ndim is None


def test_describe_their_file():
    text = describe(LI / "li_part2d.h5")
    assert text.splitlines()[0].endswith(
        "Li et al. 2018 loss-landscape file (-1 = not computed, no provenance)"
    )
    assert "2D, x: 11 points from -1 to 1; y: 7 points from -0.5 to 0.5" in text
    assert "train_loss: 47 -1 (not computed) of 77" in text
    assert "how it was made:" not in text


def test_decode_reorients_only_a_transposed_shape():
    z = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(decode(z, (2, 3)), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(decode(z, (3, 2)), z)
    assert np.isnan(decode(np.array([1.0, -1.0]), (2,))[1])


def test_their_direction_file_reads_in_stored_order():
    axes = read_direction_file(LI / "li_part2d_dirs.h5")
    assert [[a.shape for a in axis] for axis in axes] == [
        [(4, 1, 3, 3), (4,), (4,), (4,), (3, 144), (3,)]
    ] * 2
    assert all(not a.any() for axis in axes for a in axis if a.ndim == 1)  # ignore=biasbn
    assert is_direction_path(LI / "li_part2d_dirs.h5")
    assert not is_direction_path(LI / "li_full2d.h5") and not is_direction_path(LI / "none.h5")


def test_direction_file_errors(tmp_path):
    with pytest.raises(LandscapeError, match=r"not a Li et al\. direction file"):
        read_direction_file(LI / "li_full2d.h5")
    gap = tmp_path / "gap.h5"
    with h5py.File(gap, "w") as f:
        f["xdirection/0"] = np.ones(2)
        f["xdirection/2"] = np.ones(2)
    with pytest.raises(LandscapeError, match=r"should hold datasets 0\.\.1"):
        read_direction_file(gap)
    with pytest.raises(LandscapeError, match="1 or 2 directions"):
        write_direction_file(tmp_path / "x.h5", [])


def test_write_direction_file_in_their_layout(tmp_path):
    path = tmp_path / "d.h5"
    write_direction_file(path, [[np.ones((2, 3)), np.zeros(2)]], command="landscape export-dirs")
    with h5py.File(path, "r") as f:
        assert list(f) == ["xdirection"] and sorted(f["xdirection"]) == ["0", "1"]
        np.testing.assert_array_equal(f["xdirection/0"][()], np.ones((2, 3)))
    assert [a.shape for a in read_direction_file(path)[0]] == [(2, 3), (2,)]


def _surface(acc: np.ndarray) -> Surface:
    x = np.linspace(-1, 1, acc.size)
    values = {"train_loss": np.arange(acc.size, dtype=float), "train_acc": acc}
    return Surface(x, None, values, np.isfinite(acc), config={"x": x.tolist()})


def test_our_root_accuracy_is_percent_and_our_group_fractions(tmp_path):
    path = tmp_path / "s.h5"
    vectors = [{"w": np.ones((2, 2))}]
    create_surface_file(path, ("random", {}, vectors), _surface(np.array([0.5, np.nan, 0.25])))
    write_values(
        path,
        {"train_loss": np.zeros(3), "train_acc": np.array([0.5, 0.75, 0.25])},
        np.ones(3, bool),
    )
    with h5py.File(path, "r") as f:
        np.testing.assert_allclose(f["train_acc"][()], [50.0, 75.0, 25.0])
        np.testing.assert_allclose(f["surface/train_acc"][()], [0.5, 0.75, 0.25])
        assert f["train_loss"] == f["surface/train_loss"]  # losses stay hard links
    np.testing.assert_allclose(read_surface(path).values["train_acc"], [0.5, 0.75, 0.25])
    np.testing.assert_allclose(in_their_units("test_acc", np.array([0.1])), [10.0])


def test_files_made_before_percent_roots_still_read_as_fractions(tmp_path):
    """Earlier files linked surface/train_acc to a root dataset holding fractions."""
    path = tmp_path / "old.h5"
    create_surface_file(path, ("random", {}, [{"w": np.ones(2)}]), _surface(np.array([0.5, 0.25])))
    with h5py.File(path, "r+") as f:
        del f["train_acc"], f["surface/train_acc"]
        f["train_acc"] = np.array([0.5, 0.25])
        f["surface/train_acc"] = f["train_acc"]
    write_values(path, {"train_acc": np.array([0.5, 0.75])}, np.ones(2, bool))
    with h5py.File(path, "r") as f:
        np.testing.assert_allclose(f["train_acc"][()], [0.5, 0.75])
    np.testing.assert_allclose(read_surface(path).values["train_acc"], [0.5, 0.75])
