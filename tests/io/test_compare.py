import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.io.compare import (
    CURVATURE_KEYS,
    forget_curvature,
    read_comparison,
    read_curvature_series,
    write_comparison,
    write_curvature_series,
)
from landscape.records import CurvatureSeries, Finding, Phase
from landscape.store import atomic_update
from tests.report.summaries import FAST_FLAT, SLOW_SHARP
from tests.report.test_figures import comparison  # noqa: F401  (the fixture)


def assert_same(a, b):
    """Dataclasses equal field by field, arrays by value."""
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if dataclasses.is_dataclass(x):
            assert_same(x, y)
        elif isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        elif isinstance(x, tuple) and x and dataclasses.is_dataclass(x[0]):
            assert len(x) == len(y)
            for u, v in zip(x, y, strict=True):
                assert_same(u, v)
        else:
            assert x == y or (x != x and y != y), f.name  # NaN == NaN here


def test_comparison_round_trips(comparison, tmp_path):  # noqa: F811
    summary = dataclasses.replace(
        SLOW_SHARP,
        phases=(Phase("fast initial learning", 0, 3), Phase("convergence", 3, 10)),
        findings=(Finding("plateau", 4, 7, "flat for 3 epochs"),),
    )
    run0 = dataclasses.replace(comparison.runs[0], summary=summary)
    c = dataclasses.replace(
        comparison,
        path=tmp_path / "compare.h5",
        runs=(run0, comparison.runs[1]),
        plane=dataclasses.replace(comparison.plane, surface="plane.h5"),
    )
    with atomic_update(c.path, new=True, command="test") as f:
        write_comparison(f, c)
    back = read_comparison(c.path)
    assert_same(back, c)
    assert_same(back.run(FAST_FLAT.name).summary, FAST_FLAT)
    with h5py.File(c.path, "r") as f:
        assert json.loads(f["compare"].attrs["runs"]) == [SLOW_SHARP.name, FAST_FLAT.name]
        assert list(f["trajectory"]) == [
            "coords",
            "epoch",
            "explained_variance_ratio",
            "lambda_max",
            "residual",
            "run",
            "step",
        ]


def test_curvature_cache(tmp_path):
    path = tmp_path / "compare.h5"
    series = CurvatureSeries(*(np.arange(3.0) + i for i in range(5)), trace=2.5, trace_stderr=0.1)
    assert read_curvature_series(path, "sgd", "abc") is None
    write_curvature_series(path, "sgd", "abc", series, {"tol": 1e-3}, command="test")
    back = read_curvature_series(path, "sgd", "abc")
    assert back.trace == 2.5 and back.trace_stderr == 0.1
    for k in CURVATURE_KEYS:
        np.testing.assert_array_equal(getattr(back, k), getattr(series, k))
    assert read_curvature_series(path, "sgd", "other") is None
    assert read_curvature_series(path, "adam", "abc") is None
    forget_curvature(path)
    with h5py.File(path, "r") as f:
        assert "curvature" not in f


def test_file_without_comparison(tmp_path):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f["x"] = 1.0
    with pytest.raises(LandscapeError, match="no 'compare' group"):
        read_comparison(path)
    with pytest.raises(LandscapeError, match="file not found"):
        read_comparison(Path(tmp_path / "missing.h5"))
