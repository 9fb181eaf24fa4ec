from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from landscape.errors import LandscapeError
from landscape.grid import MAX_GRID_ENV, check_grid_size, parse_grid


def test_ranges_and_lists():
    np.testing.assert_allclose(parse_grid("-1:1:3"), [-1, 0, 1])
    np.testing.assert_allclose(parse_grid("0.5:0.5:1"), [0.5])
    np.testing.assert_allclose(parse_grid("1,2.5,4"), [1, 2.5, 4])


@pytest.mark.parametrize(
    "spec", ["", "1:2", "a:b:3", "1:0:5", "0:1:0", "1,1", "2,1", "nan,1", "0:inf:3", "1:2:3:4"]
)
def test_bad_specs(spec):
    with pytest.raises(LandscapeError, match="x: "):
        parse_grid(spec, name="x")


@given(st.text(max_size=30))
def test_fuzz_never_crashes_otherwise(text):
    try:
        out = parse_grid(text)
    except LandscapeError:
        return
    assert out.ndim == 1 and len(out) >= 1 and np.isfinite(out).all()
    assert np.all(np.diff(out) > 0)


@pytest.mark.parametrize("spec", ["-1e308:1e308:3", "1:1.0000000000000002:5"])
def test_ranges_float64_cannot_hold_are_refused(spec):
    with pytest.raises(LandscapeError, match="gives values float64 cannot hold or tell apart"):
        parse_grid(spec, name="x")


def test_grid_size_limit_and_the_variable_that_lifts_it(monkeypatch):
    with pytest.raises(LandscapeError, match=r"100000 x 100000 = 10000000000 points .*MAX_GRID"):
        check_grid_size((100_000, 100_000))
    check_grid_size((1000, 1000))
    monkeypatch.setenv(MAX_GRID_ENV, "10")
    with pytest.raises(LandscapeError, match="4 x 3 = 12 points is above the limit of 10"):
        check_grid_size((4, 3))
