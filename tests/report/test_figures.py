"""Figures and documents from a synthetic comparison: no warnings, promised sizes, offline HTML."""

import re
import struct
import warnings
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
from matplotlib.figure import Figure

from landscape.errors import LandscapeError
from landscape.plotting.compare import (
    plot_loss_curves,
    plot_surface_pair,
)
from landscape.plotting.paths import plot_background_contours, plot_paths
from landscape.records import (
    Comparison,
    Profile,
    RunResult,
    Series,
    Stability,
)
from landscape.report.document import write_report
from landscape.report.figures import SurfacePair
from landscape.report.table import format_number
from tests.report.summaries import FAST_FLAT, SLOW_SHARP
from tests.trajectories import runs_trajectory


def result(summary, scale):
    e = np.arange(11)
    series = Series(
        e,
        e * 10,
        scale * np.exp(-e / 3) + 0.1,
        scale * np.exp(-e / 4) + 0.3,
        1 - np.exp(-e / 3),
        1 - np.exp(-e / 4),
    )
    stab = Stability(
        e[1:].astype(float),
        e[1:] * 10.0,
        scale * np.linspace(1, 20, 10),
        scale * np.linspace(1, 20, 10),
        np.full(10, 20.0),
        "checkpoints",
        False,
    )
    x = np.linspace(-1, 1, 11)
    prof = Profile(f"profiles/{summary.name}.h5", x, 0.2 + scale * x**2, 0.3 + scale * x**2)
    return RunResult(summary, series, stab, prof)


@pytest.fixture
def comparison(tmp_path):
    k = 6
    paths = {
        "slow": np.c_[np.linspace(-3, 0, k), np.linspace(0, 1, k)],
        "fast": np.c_[np.linspace(-3, -1, k), np.linspace(0, -1, k)],
    }
    lambda_max = np.r_[np.geomspace(1, 50, k), np.geomspace(1, 5, k)]
    plane = runs_trajectory(
        paths, explained=(0.8, 0.15), origin_label="fast", lambda_max=lambda_max
    )
    return Comparison(
        tmp_path / "compare.h5",
        {"edge_fraction": 0.9},
        0.5,
        0.9,
        (result(SLOW_SHARP, 1.0), result(FAST_FLAT, 0.5)),
        plane,
    )


def surface_file(path, z):
    x, y = np.linspace(-1, 1, z.shape[1]), np.linspace(-1, 1, z.shape[0])
    with h5py.File(path, "w") as f:
        f["xcoordinates"], f["ycoordinates"], f["train_loss"] = x, y, z
    return path


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_report_renders_without_warnings_at_promised_sizes(comparison, tmp_path):
    xx, yy = np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-1, 1, 7))
    px, py = np.meshgrid(np.linspace(-4, 1, 8), np.linspace(-2, 2, 6))
    surface_file(tmp_path / "plane.h5", 0.5 + px**2 + py**2)
    comparison = replace(comparison, plane=replace(comparison.plane, surface="plane.h5"))
    pair = SurfacePair(
        (
            surface_file(tmp_path / "a.h5", 1 + xx**2 + yy**2),
            surface_file(tmp_path / "b.h5", 1 + 30 * (xx**2 + yy**2)),
        ),
        ("skip", "no skip"),
        "two bowls",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = write_report(comparison, tmp_path / "report", pair=pair)
    names = [f.name for f in files.figures]
    assert names == ["convergence", "stability", "profiles", "paths", "surface_pair"]
    for f in files.figures:
        assert f.pdf.stat().st_size > 1000 and f.pdf.read_bytes()[:4] == b"%PDF"
        w, h = png_size(f.png)
        assert (w, h) == (round(f.size[0] * 300), round(f.size[1] * 300)), f.name
    assert files.figures[0].size == (6.9, 3.0)
    assert files.figures[1].size == (3.3, 2.6)
    assert "Grey contours: training loss on the plane" in files.figures[3].caption


def test_documents_hold_the_numbers_and_are_self_contained(comparison, tmp_path):
    files = write_report(comparison, tmp_path / "report")
    html = files.html.read_text()
    md = files.markdown.read_text()
    for r in comparison.runs:
        s = r.summary
        for value in (s.final_val_loss, s.lambda_max, s.loss_gap, s.distance_from_init):
            cell = format_number(value)
            assert f"<td>{cell}</td>" in html and f"| {cell} |" in md
    srcs = re.findall(r'src="([^"]*)"', html)
    assert len(srcs) == len(files.figures) and all(
        s.startswith("data:image/png;base64,") for s in srcs
    )
    assert "http://" not in html and "https://" not in html
    for f in files.figures:
        assert f"figures/{f.png.name}" in md and f.caption in md
    for sentence in files.sentences:
        assert sentence in md


def test_plot_functions_reject_mismatched_input():
    fig = Figure()
    ax = fig.add_subplot()
    with pytest.raises(LandscapeError, match="same shape"):
        plot_loss_curves(ax, {"A": np.arange(3)}, {"A": np.arange(4.0)})
    with pytest.raises(LandscapeError, match=r"\(k, 2\)"):
        plot_paths(ax, {"A": np.zeros((3, 3))}, {"A": np.zeros(3)})
    with pytest.raises(LandscapeError, match="as many axes"):
        plot_surface_pair([ax], [], ["a"])
    with pytest.raises(LandscapeError, match="expected z of shape"):
        plot_background_contours(ax, np.arange(3.0), np.arange(2.0), np.ones((3, 2)))


def test_paths_without_curvature_are_grey(comparison):
    fig = Figure()
    ax = fig.add_subplot()
    coords = {"A": np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])}
    plot_paths(ax, coords, {"A": np.full(3, np.nan)})
    assert len(ax.collections) == 1 and len(fig.axes) == 1  # one grey collection, no colour bar


def test_seeds_of_one_contender_share_a_colour_and_a_legend_entry(comparison):
    from landscape.report.figures import convergence_figure

    slow, fast = comparison.runs
    seeds = [
        replace(r, summary=replace(r.summary, name=f"{r.summary.name}-seed-{s}"))
        for r in (slow, fast)
        for s in (0, 1, 2)
    ]
    fig = convergence_figure(replace(comparison, runs=tuple(seeds)))
    (legend,) = fig.legends
    names = [t.get_text() for t in legend.get_texts()]
    assert names == [slow.summary.label, fast.summary.label, "target"]
    lines = fig.axes[0].get_lines()
    colours = [line.get_color() for line in lines if line.get_label() not in ("target",)]
    assert len(colours) == 6 and len(set(colours[:3])) == 1 and len(set(colours[3:])) == 1
    assert colours[0] != colours[3]


@pytest.fixture
def seed_groups(comparison):
    """Three seeds of each contender labelled as compare labels them (``DIR seed N``), the
    contenders stored with the findings of compare.h5."""
    from landscape.io.compare import StoredFindings, write_stored_findings

    runs, contenders = [], {}
    for r, group in zip(comparison.runs, ("sgd", "adam"), strict=True):
        for s in (0, 1, 2):
            name = f"{group}-seed-{s}"
            runs.append(
                replace(r, summary=replace(r.summary, name=name, label=f"{group} seed {s}"))
            )
            contenders[group] = (*contenders.get(group, ()), name)
    with h5py.File(comparison.path, "w") as f:
        write_stored_findings(f, StoredFindings((), contenders, 0.05, 0.95))
    return replace(comparison, runs=tuple(runs))


def test_seed_labels_are_grouped_by_the_stored_contenders(seed_groups):
    from landscape.report.figures import convergence_figure, stability_figure

    for make in (convergence_figure, stability_figure):
        fig = make(seed_groups)
        (legend,) = fig.legends
        names = [t.get_text() for t in legend.get_texts()]
        assert names[:2] == ["sgd", "adam"] and len(names) == 3, make.__name__
        colours = [line.get_color() for line in fig.axes[0].get_lines()[:6]]
        assert len(set(colours[:3])) == 1 and len(set(colours[3:])) == 1
        assert colours[0] != colours[3]


def test_stability_range_leaves_an_epoch0_outlier_out_and_marks_it(comparison):
    from landscape.report.figures import stability_figure

    slow, fast = comparison.runs
    spike = fast.stability.sharpness.copy()
    spike[0] = 5e3 * fast.stability.threshold[0]  # an adaptive method's first effective step
    fast = replace(fast, stability=replace(fast.stability, sharpness=spike))
    fig = stability_figure(replace(comparison, runs=(slow, fast)))
    (ax,) = fig.axes
    low, high = ax.get_ylim()
    others = np.r_[slow.stability.sharpness / slow.stability.threshold, (spike / 20.0)[1:]]
    assert others.max() < high < 5e3 and low < 1.0 < high
    (mark,) = [line for line in ax.get_lines() if line.get_marker() == "^"]
    assert mark.get_ydata().tolist() == [high] and mark.get_xdata().tolist() == [1.0]
    assert "1 point above the y axis, up to 5e+03" in [t.get_text() for t in ax.texts]


def test_spectra_one_panel_per_contender_with_its_seeds(seed_groups):
    from landscape.records import RunSpectrum
    from landscape.report.figures import spectra_figure

    grid = np.linspace(-1.0, 10.0, 50)
    density = np.exp(-(grid**2))
    spectrum = RunSpectrum(np.array([9.0, 7.0]), grid, density / np.trapezoid(density, grid), 10)
    c = replace(seed_groups, runs=tuple(replace(r, spectrum=spectrum) for r in seed_groups.runs))
    fig = spectra_figure(c)
    panels = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in panels] == ["sgd (3 runs)", "adam (3 runs)"]
    assert all(len(ax.get_lines()) == 3 for ax in panels)  # one density per seed
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["density (SLQ)", "top-k"]
