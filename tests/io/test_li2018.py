"""Genuine files of the Li et al. 2018 reference code (tests/fixtures/li2018/README.md)."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.io.describe import contents, describe
from landscape.io.li2018 import decode, is_li2018
from landscape.io.surface import read_surface

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
    assert ((s.values["train_acc"] >= 0) & (s.values["train_acc"] <= 100)).all()


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
