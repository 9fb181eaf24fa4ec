"""Layout of the figures as drawn: nothing clipped, nothing on top of anything else.

Each test draws a figure with matplotlib's Agg renderer and compares the
window extents (``get_window_extent``) of its texts, legends and axes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.transforms import Bbox

from landscape.plotting import surface as S  # noqa: N812
from landscape.plotting.compare import plot_surface_pair
from landscape.plotting.spectrum import draw_spectrum
from landscape.plotting.style import figure, save
from landscape.plotting.trajectory import draw_paths
from tests.plotting.surface_files import write_surface
from tests.trajectories import runs_trajectory

LI = Path(__file__).resolve().parents[1] / "fixtures" / "li2018"


def draw(fig: Figure):
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def inside(inner: Bbox, outer: Bbox, tol: float = 0.5) -> bool:
    return (
        inner.x0 >= outer.x0 - tol
        and inner.y0 >= outer.y0 - tol
        and inner.x1 <= outer.x1 + tol
        and inner.y1 <= outer.y1 + tol
    )


def overlap(a: Bbox, b: Bbox, tol: float = 0.5) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol


def assert_apart(boxes: dict[str, Bbox]) -> None:
    names = list(boxes)
    clashes = [
        (a, b) for i, a in enumerate(names) for b in names[i + 1 :] if overlap(boxes[a], boxes[b])
    ]
    assert clashes == []


def tick_boxes(ax, renderer, axis: str) -> dict[str, Bbox]:
    ticks = getattr(ax, f"get_{axis}ticklabels")()
    return {
        f"{axis}{i}:{t.get_text()}": t.get_window_extent(renderer)
        for i, t in enumerate(ticks)
        if t.get_visible() and t.get_text()
    }


def bowl(nx=9, ny=7):
    x, y = np.linspace(-1, 1, nx), np.linspace(-1, 1, ny)
    xx, yy = np.meshgrid(x, y)
    return x, y, 0.3 + xx**2 + 0.6 * yy**2 + 0.3 * xx * yy


def assert_contour_labels_inside(fig, ax):
    renderer = draw(fig)
    labels = [t for t in ax.texts if t.get_text()]
    assert labels, "no level labelled"
    frame = ax.get_window_extent(renderer)
    clipped = [t.get_text() for t in labels if not inside(t.get_window_extent(renderer), frame)]
    assert clipped == []


def test_contour_labels_of_the_li_reference_file_lie_inside_the_axes():
    fig, ax = figure()
    S.draw_contour(LI / "li_sq2d.h5", ax)
    assert_contour_labels_inside(fig, ax)


@pytest.mark.parametrize(("width", "levels"), [("single", None), ("double", 30), ("single", 6)])
def test_contour_labels_lie_inside_the_axes(width, levels):
    fig, ax = figure(width)
    S.plot_contour(ax, *bowl(), levels=levels)
    assert_contour_labels_inside(fig, ax)


def test_partial_1d_title_does_not_cover_the_legend(tmp_path):
    x = np.linspace(-1, 1, 21)
    test = np.where(x < 0, 1 + x**2, np.nan)
    path = write_surface(
        tmp_path / "p.h5",
        {"train_loss": x**2, "train_acc": 1 - x**2, "test_loss": test, "test_acc": 1 - test},
        x,
    )
    fig, ax = figure()
    S.draw_1d(path, ax)
    renderer = draw(fig)
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "10 of 21 points computed"
    boxes = {f"entry:{t.get_text()}": t.get_window_extent(renderer) for t in legend.get_texts()} | {
        "note": legend.get_title().get_window_extent(renderer)
    }
    for other in fig.axes:
        if other.get_title(loc="left"):
            boxes["title"] = other.title.get_window_extent(renderer)
    assert_apart(boxes)
    canvas = fig.bbox
    assert all(inside(b, canvas) for b in boxes.values())


def test_points_computed_count_the_metric_drawn():
    ax = figure()[1]
    S.draw_contour(LI / "li_part2d_test.h5", ax)  # train complete, test 20 of 77
    assert ax.get_title(loc="left") == ""
    ax = figure()[1]
    S.draw_contour(LI / "li_part2d_test.h5", ax, metric="test_loss")
    assert ax.get_title(loc="left") == "20 of 77 points computed"


def test_double_width_3d_fills_the_figure_without_clipping(tmp_path):
    x, y, z = bowl(15, 9)
    fig = S.draw_3d(write_surface(tmp_path / "s.h5", {"train_loss": z}, x, y), width="double")
    image = imread(save(fig, tmp_path / "s.png"))[..., :3]
    ink = (image < 0.97).any(axis=2)
    columns, rows = np.flatnonzero(ink.any(axis=0)), np.flatnonzero(ink.any(axis=1))
    assert (columns[-1] - columns[0]) / ink.shape[1] > 0.6  # was 0.47: a square in the middle
    assert columns[0] > 0 and rows[0] > 0  # nothing cut at the left or top edge
    assert columns[-1] < ink.shape[1] - 1 and rows[-1] < ink.shape[0] - 1
    renderer = draw(fig)
    ax = fig.axes[0]
    for axis in ("x", "y"):
        assert_apart(tick_boxes(ax, renderer, axis))


def test_plane_marks_and_names_its_three_checkpoints(tmp_path):
    x, y = np.linspace(-0.5, 1.5, 9), np.linspace(-0.5, 1.5, 9)
    z = np.add.outer(y, x) ** 2 + 0.1
    path = write_surface(
        tmp_path / "p.h5",
        {"train_loss": z},
        x,
        y,
        directions={"kind": "plane", "targets": json.dumps(["runs/b/final.pt", "c.pt"])},
    )
    ax = figure()[1]
    S.draw_contour(path, ax)
    dots = [line.get_xydata().tolist() for line in ax.lines if line.get_marker() == "o"]
    assert dots == [[[0.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]]]
    names = [t.get_text() for t in ax.texts if t.get_text() in ("checkpoint", "b/final.pt", "c.pt")]
    assert names == ["checkpoint", "b/final.pt", "c.pt"]
    assert ax.get_xlabel() == "direction 1 (toward b/final.pt)"
    assert ax.get_ylabel() == "direction 2 (toward c.pt)"


def test_spectrum_legend_leaves_the_eigenvalue_marks_free():
    grid = np.linspace(-1, 5, 200)
    density = np.exp(-(grid**2) * 4) + 1e-3 * np.exp(-((grid - 4.5) ** 2) * 20)
    fig, ax = figure()
    draw_spectrum(
        ax, top=np.array([4.2, 4.4, 4.6]), bottom=np.array([-0.8]), grid=grid, density=density
    )
    renderer = draw(fig)
    legend = ax.get_legend().get_window_extent(renderer)
    marks = [c.get_window_extent(renderer) for c in ax.collections]
    assert len(marks) == 2
    assert not any(overlap(legend, m) for m in marks)
    assert not overlap(legend, ax.get_window_extent(renderer))


def test_path_plot_labels_do_not_overlap():
    n = 12  # a crowded path: checkpoints close together
    coords = np.column_stack([np.linspace(-1, 0, n) ** 3, np.linspace(-0.3, 0, n)])
    paths = {"sgd": coords, "adam": coords * 0.8}
    traj = runs_trajectory(paths, explained=(0.9, 0.08), origin_label="adam")
    fig, ax = figure()
    draw_paths(ax, traj)
    renderer = draw(fig)
    epochs = {f"{i}:{t.get_text()}": t.get_window_extent(renderer) for i, t in enumerate(ax.texts)}
    assert len(epochs) >= 2
    assert_apart(epochs)
    legend = ax.get_legend().get_window_extent(renderer)
    assert not any(overlap(legend, b) for b in epochs.values())
    assert ax.get_xlabel() == "direction 1 (PCA, 90.0% of variance)"


def test_skip_pair_tick_labels_do_not_overlap():
    x, y, z = bowl(15, 15)
    fig = Figure(figsize=(6.9, 3.0), layout="constrained")
    axes = fig.subplots(1, 2)
    plot_surface_pair(axes, [(x, y, z), (x, y, z + 1)], ["skip", "no skip"])
    renderer = draw(fig)
    for ax in axes:
        for axis in ("x", "y"):
            assert_apart(tick_boxes(ax, renderer, axis))
    assert [ax.get_xlabel() for ax in axes] == ["direction 1", "direction 1"]
    assert fig.axes[-1].get_ylabel() == "train loss"
