"""Axis ranges robust to an epoch-0 outlier, with the clipped points marked on the edge."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from landscape.plotting.limits import clip_outliers, robust_limits

STEPS = np.r_[2e8, np.geomspace(3.0, 0.5, 12)]  # Adagrad: lr/ε at epoch 0, then O(1)


def test_epoch0_outlier_is_left_out_of_a_log_range():
    lim = robust_limits(STEPS, log=True)
    assert 3.0 < lim.high < 10.0 and 0.1 < lim.low < 0.5
    assert lim.above(STEPS).tolist() == [True] + [False] * 12
    assert not lim.below(STEPS).any()
    assert robust_limits(STEPS[1:], log=True) is None  # no outlier: automatic range kept


def test_linear_range_holds_the_included_level_and_low_outliers():
    values = np.r_[np.linspace(1.0, 1.2, 10), -40.0]
    lim = robust_limits(values, include=(0.5,))
    assert lim.low < 0.5 < 1.2 < lim.high < 1.3
    assert lim.below(values).tolist() == [False] * 10 + [True]
    assert robust_limits([1.0, 50.0, np.nan]) is None  # fewer than four values


def test_clipped_points_are_marked_on_the_edge_and_counted():
    ax = Figure().subplots()
    x = np.arange(len(STEPS), dtype=float)
    ax.plot(x, STEPS)
    ax.set_yscale("log")
    lim = clip_outliers(ax, [(x, STEPS, "C3")])
    assert ax.get_ylim() == pytest.approx((lim.low, lim.high))
    (mark,) = [line for line in ax.get_lines() if line.get_marker() == "^"]
    assert mark.get_xdata().tolist() == [0.0] and mark.get_ydata().tolist() == [lim.high]
    assert not mark.get_clip_on() and mark.get_color() == "C3"
    assert [t.get_text() for t in ax.texts] == ["1 point above the y axis, up to 2e+08"]


def test_a_far_run_on_a_plane_is_clipped_along_x():
    ax = Figure().subplots()
    xs = np.r_[np.linspace(0.0, 1.0, 12), 60.0]
    ys = np.linspace(0.0, 1.0, 13)
    ax.plot(xs, ys)
    lim = clip_outliers(ax, [(ys, xs, "black")], axis="x")
    assert ax.get_xlim() == pytest.approx((lim.low, lim.high)) and lim.high < 2.0
    (mark,) = [line for line in ax.get_lines() if line.get_marker() == ">"]
    assert mark.get_xdata().tolist() == [lim.high] and mark.get_ydata().tolist() == [1.0]
    assert ax.texts[0].get_text() == "1 point right of the x axis, up to 60"


def test_nothing_clipped_leaves_the_axes_alone():
    ax = Figure().subplots()
    ax.plot(np.arange(12.0), STEPS[1:])
    before = ax.get_ylim()
    assert clip_outliers(ax, [(np.arange(12.0), STEPS[1:], "C0")]) is None
    assert ax.get_ylim() == before and not ax.texts


def test_outliers_inside_an_included_level_are_shown_without_a_note():
    ax = Figure().subplots()
    x, y = np.arange(13.0), np.r_[40.0, np.linspace(1.0, 1.2, 12)]
    ax.plot(x, y)
    lim = clip_outliers(ax, [(x, y, "C0")], include=(50.0,))  # a target above the outlier
    assert lim.low < 1.0 and lim.high > 50.0 and not ax.texts
