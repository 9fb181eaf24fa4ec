from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from landscape.errors import LandscapeError
from landscape.grid import parse_grid


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
