"""The paths figure: one zoomed panel per start when the seeds' initializations dominate."""

from dataclasses import replace

import numpy as np

from landscape.report.paths import panels_note, paths_figure, separate_panels, start_groups
from tests.report.test_figures import comparison  # noqa: F401  (fixture)
from tests.trajectories import runs_trajectory


def _two_starts(k=5):
    """Seed 0 and seed 1 of two optimizers: starts 14 apart, each path about 1 long."""
    t = np.linspace(0.0, 1.0, k)
    paths = [np.c_[-13 + 0.1 * t, 0.7 * t], np.c_[-13 - 0.6 * t, 0.8 * t]]
    paths += [np.c_[-1 + t, -3 + 3 * t], np.c_[-1 + 0.8 * t, -3 + 2 * t]]
    labels = ["sgd seed 0", "adam seed 0", "sgd seed 1", "adam seed 1"]
    return dict(zip(labels, paths, strict=True))


def test_runs_sharing_a_start_are_grouped_and_panelled():
    coords = _two_starts()
    assert start_groups(coords) == [["sgd seed 0", "adam seed 0"], ["sgd seed 1", "adam seed 1"]]
    assert separate_panels(coords) == start_groups(coords)
    one_start = {k: v - v[0] for k, v in coords.items()}  # every run from the origin
    assert separate_panels(one_start) is None
    wide = dict(coords, **{"sgd seed 1": np.c_[np.linspace(-1, -12, 5), np.zeros(5)]})
    assert separate_panels(wide) is None  # a group spanning the plane: one shared panel


def test_paths_figure_draws_a_zoomed_panel_per_start(comparison):  # noqa: F811
    coords = _two_starts()
    labels = list(coords)
    plane = runs_trajectory(
        coords,
        explained=(0.93, 0.03),
        origin_label="adam seed 1",
        lambda_max=np.geomspace(1, 9, 20),
    )
    c = replace(comparison, plane=plane)
    groups = {k: k.split()[0] for k in labels}
    fig = paths_figure(c, labels, groups)
    left, right, bar = fig.axes
    assert left.get_title() == "runs from the start of seed 0"
    assert right.get_title() == "runs from the start of seed 1"
    assert np.ptp(left.get_xlim()) < 1.0 and np.ptp(right.get_ylim()) < 4.0  # zoomed
    assert bar.get_ylabel() == "λ_max at checkpoint"
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["sgd", "adam", "start"]
    assert "2 different initializations" in panels_note(plane, labels)
    assert panels_note(comparison.plane, ["slow", "fast"]) == ""
