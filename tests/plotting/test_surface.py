import warnings

import numpy as np
import pytest
from matplotlib.colors import LogNorm
from matplotlib.contour import ContourSet
from matplotlib.image import imread

from landscape.errors import LandscapeError
from landscape.io.surface import read_surface
from landscape.plotting import surface as S  # noqa: N812
from landscape.plotting.style import PNG_DPI, figure, save
from tests.plotting.surface_files import write_surface

X = np.linspace(-1.0, 1.0, 9)  # nx = 9
Y = np.linspace(-0.5, 0.5, 5)  # ny = 5


@pytest.fixture(autouse=True)
def _no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def ident():
    xx, yy = np.meshgrid(X, Y)
    return 10 * xx + yy


def bowl():
    xx, yy = np.meshgrid(X, Y)
    return 0.01 + 5 * xx**2 + 20 * yy**2  # spans > 2 decades


def write(path, values, *, x=X, y=Y, kind="random"):
    return write_surface(path, values, x, y, directions={"kind": kind, "norm": "filter"})


def contour_set(ax):
    return next(c for c in ax.collections if isinstance(c, ContourSet))


def test_contour_lines_follow_iy_ix_orientation():
    fig, ax = figure()
    S.plot_contour(ax, X, Y, ident(), levels=[-5.0, 0.0, 5.0])
    cs = contour_set(ax)
    for level, segs in zip(cs.levels, cs.allsegs, strict=True):
        vertices = np.concatenate(segs)
        assert len(vertices) > 1
        np.testing.assert_allclose(10 * vertices[:, 0] + vertices[:, 1], level, atol=1e-9)
    assert len(cs.labelTexts) == 3  # every level labelled
    assert len(fig.axes) == 2  # the colour bar


def test_contour_rejects_transposed_values():
    _, ax = figure()
    with pytest.raises(
        LandscapeError, match=r"expected z of shape \(ny, nx\) = \(5, 9\) \(got \(9, 5\)\)"
    ):
        S.plot_contour(ax, X, Y, ident().T)


def test_filled_contour_log_scale_and_extension():
    _, ax = figure()
    S.plot_contour(ax, X, Y, bowl(), filled=True, vmin=0.1, vmax=5.0)
    cs = contour_set(ax)
    assert isinstance(cs.norm, LogNorm)  # auto log: values span more than two decades
    assert cs.extend == "both"
    assert (
        cs.levels[0] <= 0.1 < cs.levels[1] and cs.levels[-2] < 5.0 <= cs.levels[-1]
    )  # round, bracketing
    _, ax = figure()
    S.plot_contour(ax, X, Y, bowl(), filled=True, log=False, levels=4)
    cs = contour_set(ax)
    assert not isinstance(cs.norm, LogNorm) and cs.extend == "neither" and len(cs.levels) <= 6


def test_nan_points_are_left_blank_without_warnings(tmp_path):
    z = bowl()
    z[0, :3] = np.nan  # the corner x in [-1, -0.5], y = -0.5 (warnings are errors here)
    hole = (-0.85, -0.45)  # inside the cells next to the missing points
    for filled in (False, True):
        fig, ax = figure()
        S.plot_contour(ax, X, Y, z, filled=filled, levels=40)
        out = save(fig, tmp_path / f"{filled}.png")
        cs = contour_set(ax)
        near = [
            v for segs in cs.allsegs for seg in segs for v in seg if v[0] < -0.75 and v[1] < -0.375
        ]
        assert near == []  # no line or region drawn over the missing corner
        px, py = ax.transData.transform(hole) * PNG_DPI / fig.dpi
        image = imread(out)
        assert image[image.shape[0] - round(py), round(px), :3].tolist() == [1.0, 1.0, 1.0]
    fig, ax = figure(projection="3d")
    S.plot_surface_3d(ax, X, Y, z)
    save(fig, tmp_path / "3d.png")
    finite = z[np.isfinite(z)]
    np.testing.assert_allclose(np.power(10.0, ax.get_zlim()), [finite.min(), finite.max()])


def test_many_levels_label_every_other():
    _, ax = figure()
    S.plot_contour(ax, X, Y, ident(), levels=list(np.arange(-9.0, 10.0)))
    assert len(contour_set(ax).labelTexts) == 10


def test_log_needs_positive_values():
    _, ax = figure()
    with pytest.raises(
        LandscapeError, match=r"log scale: expected positive values \(the smallest is -10"
    ):
        S.plot_contour(ax, X, Y, ident(), log=True)


def test_surface_3d():
    _, ax = figure(projection="3d")
    S.plot_surface_3d(ax, X, Y, bowl(), log=True, label="train loss")
    assert ax.get_zlabel() == "log10 train loss"
    np.testing.assert_allclose(ax.get_zlim(), np.log10([bowl().min(), bowl().max()]))
    _, flat = figure()
    with pytest.raises(LandscapeError, match="expected axes made with projection='3d'"):
        S.plot_surface_3d(flat, X, Y, bowl())


def test_curve_twin_axes():
    fig, ax = figure()
    values = {
        "train_loss": X**2,
        "test_loss": X**2 + 1,
        "train_acc": 1 - X**2 / 2,
        "test_acc": 0.9 - X**2 / 2,
    }
    S.plot_curve(ax, X, values, xlabel="α")
    right = next(a for a in fig.axes if a is not ax)
    assert [line.get_label() for line in ax.lines] == ["train loss", "test loss"]
    assert [line.get_label() for line in right.lines] == ["train accuracy", "test accuracy"]
    assert [line.get_linestyle() for line in right.lines] == ["-", "--"]
    assert ax.get_ylabel() == "loss" and right.get_ylabel() == "accuracy"
    assert len(ax.get_legend().get_texts()) == 4
    with pytest.raises(
        LandscapeError, match=r"train_loss: expected shape \(9,\) like x \(got \(3,\)\)"
    ):
        S.plot_curve(figure()[1], X, {"train_loss": np.ones(3)})


def test_curve_auto_log():
    _, ax = figure()
    S.plot_curve(ax, X, {"train_loss": 0.01 + X**2 * 10})
    assert ax.get_yscale() == "log"


@pytest.mark.parametrize(
    ("levels", "log", "expected"),
    [
        (3, True, [1.0, 10.0, 100.0]),
        (5, True, [1.0, 3.0, 10.0, 30.0, 100.0]),
        (2, True, [1.0, 10.0, 100.0]),
        (4, False, [0.0, 0.25, 0.5, 0.75, 1.0]),
        ([1.0, 0.5, 0.5], False, [0.5, 1.0]),
    ],
)
def test_contour_levels(levels, log, expected):
    high = 100.0 if log else 1.0
    np.testing.assert_allclose(
        S.contour_levels(1.0 if log else 0.0, high, levels, log=log), expected
    )


def test_contour_levels_bracket_the_range():
    np.testing.assert_allclose(
        S.contour_levels(0.4, 25.0, 3, log=True), [0.3, 1.0, 3.0, 10.0, 30.0]
    )
    np.testing.assert_allclose(S.contour_levels(0.01, 10.01, 4), [0.0, 2.5, 5.0, 7.5, 10.0, 12.5])
    np.testing.assert_allclose(S.contour_levels(1.1, 1.3, 3, log=True), np.geomspace(1.1, 1.3, 3))


def test_contour_levels_errors():
    with pytest.raises(LandscapeError, match="levels: expected a positive count"):
        S.contour_levels(0.0, 1.0, 0)
    with pytest.raises(LandscapeError, match="levels: a log scale needs positive levels"):
        S.contour_levels(0.1, 1.0, [0.0, 0.5], log=True)


def test_value_range():
    assert S.value_range(np.array([2.0, 2.0]), None, None, log=False) == (1.5, 2.5)
    assert S.value_range(np.array([2.0, 2.0]), None, None, log=True) == (1.0, 4.0)
    with pytest.raises(LandscapeError, match=r"expected vmin < vmax \(got vmin=3, vmax=1\)"):
        S.value_range(np.array([0.0, 5.0]), 3.0, 1.0, log=False)
    with pytest.raises(LandscapeError, match="every value is NaN"):
        S.value_range(np.full(3, np.nan), None, None, log=False)
    with pytest.raises(LandscapeError, match=r"log scale: expected vmin > 0 \(got 0\)"):
        S.value_range(np.array([1.0, 5.0]), 0.0, None, log=True)


def test_checkpoint_marked_only_when_at_the_origin(tmp_path):
    s = read_surface(write(tmp_path / "p.h5", {"train_loss": bowl()}, kind="plane"))
    assert not S.centred_on_checkpoint(s)
    s = read_surface(write(tmp_path / "r.h5", {"train_loss": bowl()}))
    assert S.centred_on_checkpoint(s)
    s = read_surface(write(tmp_path / "o.h5", {"train_loss": bowl()}, x=X + 2))
    assert not S.centred_on_checkpoint(s)


def test_axis_labels(tmp_path):
    s = read_surface(write(tmp_path / "a.h5", {"train_loss": np.ones(9)}, y=None, kind="interp"))
    assert S.axis_labels(s)[0].startswith("α (0: first checkpoint")
    s = read_surface(write(tmp_path / "b.h5", {"train_loss": bowl()}, kind="pca"))
    assert S.axis_labels(s) == ("direction 1 (PCA)", "direction 2 (PCA)")
    s = read_surface(write(tmp_path / "c.h5", {"train_loss": bowl()}, kind="plane"))
    assert S.axis_labels(s) == (
        "direction 1 (toward the second checkpoint)",
        "direction 2 (toward the third checkpoint)",
    )
    s = read_surface(write(tmp_path / "d.h5", {"train_loss": bowl()}, kind="hessian"))
    assert S.axis_labels(s, short=True) == ("direction 1", "direction 2")


@pytest.mark.parametrize("kind", ["contour", "filled"])
def test_draw_2d_from_file(tmp_path, kind):
    z = bowl()
    z[-1, -1] = np.nan
    path = write(tmp_path / "s.h5", {"train_loss": z, "test_loss": z + 1})
    fig, ax = figure("double")
    getattr(S, f"draw_{kind}")(path, ax, metric="test_loss")
    assert ax.get_xlabel() == "direction 1 (random, filter-normalized)"
    assert ax.get_title(loc="left") == "44 of 45 points computed"
    assert fig.axes[1].get_ylabel() == "test loss"
    (marker,) = ax.lines  # the checkpoint at the origin
    assert marker.get_marker() == "+" and marker.get_xydata().tolist() == [[0.0, 0.0]]
    out = save(fig, tmp_path / "s.png")
    assert imread(out).shape[:2] == (900, 2070)


def test_draw_3d_and_1d_from_file(tmp_path):
    fig = S.draw_3d(write(tmp_path / "s.h5", {"train_loss": bowl()}), width="double")
    assert fig.get_size_inches()[0] == 6.9 and fig.axes[0].name == "3d"
    assert fig.axes[0].get_xlabel() == "direction 1"  # short labels on 3D axes
    path = write(
        tmp_path / "c.h5", {"train_loss": X**2, "train_acc": 1 - X**2}, y=None, kind="interp"
    )
    fig, ax = figure()
    S.draw_1d(path, ax, metric="train_acc")
    assert [line.get_label() for line in ax.lines] == ["train accuracy"]
    out = save(fig, tmp_path / "c.png")
    assert imread(out).shape[:2] == (round(2.6 * PNG_DPI), round(3.3 * PNG_DPI))


def test_draw_refuses_wrong_dimension(tmp_path):
    one = write(tmp_path / "one.h5", {"train_loss": X**2}, y=None)
    two = write(tmp_path / "two.h5", {"train_loss": bowl()})
    with pytest.raises(
        LandscapeError,
        match=r"--kind contour needs a 2D surface; .* holds a 1D one \(use --kind 1d\)",
    ):
        S.draw_contour(one, figure()[1])
    with pytest.raises(LandscapeError, match=r"--kind 3d needs a 2D surface"):
        S.draw_3d(one)
    with pytest.raises(
        LandscapeError, match=r"--kind 1d needs a 1D surface; .* \(use --kind contour\)"
    ):
        S.draw_1d(two, figure()[1])


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.425, "1.425"), (1.375, "1.375"), (0.5, "0.5"), (20.0, "20"), (1 / 3, "0.3333")],
)
def test_level_labels_tell_levels_apart(value, text):
    assert S.format_level(value) == text
