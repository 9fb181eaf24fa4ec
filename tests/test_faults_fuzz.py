"""Property-based fuzzing: damaged HDF5 files and arbitrary grid text.

Every reader either returns data or raises a one-line LandscapeError; nothing
else escapes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from landscape.directions import Directions
from landscape.engine import _start
from landscape.errors import LandscapeError
from landscape.grid import parse_grid
from landscape.io.surface import create_surface_file, read_surface
from landscape.records import Surface

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")

METRICS = ["train_loss", "train_acc"]
X, Y = np.linspace(-1, 1, 4), np.linspace(-1, 1, 3)
CONFIG = {"x": X.tolist()}
DIRECTIONS = Directions([{"w": torch.ones(2, 3), "b": torch.zeros(3)}] * 2, "random", {"seed": 0})


def _surface_bytes() -> bytes:
    """A small complete surface file, as the engine writes it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.h5"
        values = {m: np.arange(12, dtype=np.float64).reshape(3, 4) for m in METRICS}
        create_surface_file(
            path,
            (DIRECTIONS.kind, DIRECTIONS.attrs, DIRECTIONS.numpy()),
            Surface(X, Y, values, np.ones((3, 4), bool), config=CONFIG),
            command="test",
        )
        return path.read_bytes()


GOOD = _surface_bytes()


def _resume(path: Path) -> None:
    """What the engine reads before resuming into a file."""
    _start(path, DIRECTIONS, X, Y, METRICS, (3, 4), CONFIG, False, "test", False)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """The good file truncated, or with up to 8 runs of garbage written over it."""
    if draw(st.booleans()):
        return GOOD[: draw(st.integers(0, len(GOOD) - 1))]
    data = bytearray(GOOD)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data) - 1))
        chunk = draw(st.binary(min_size=1, max_size=16))
        data[at : at + len(chunk)] = chunk
    return bytes(data[: len(GOOD)])


def _check(reader: Callable[[Path], object], blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.h5"
        path.write_bytes(blob)
        try:
            reader(path)
        except LandscapeError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)


def test_intact_file_reads(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    path.write_bytes(GOOD)
    _resume(path)
    assert read_surface(path).values["train_loss"][2, 3] == 11.0


FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],  # a failure's blob is 60 kB: report it, don't shrink it
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(damaged())
def test_resume_reader_on_damaged_file(blob: bytes) -> None:
    _check(_resume, blob)


@FUZZ
@given(damaged())
def test_plot_reader_on_damaged_file(blob: bytes) -> None:
    _check(read_surface, blob)


@pytest.mark.parametrize("size", [0, 8, 512, len(GOOD) // 2])
def test_truncated_file_named_in_error(tmp_path: Path, size: int) -> None:
    path = tmp_path / "cut.h5"
    path.write_bytes(GOOD[:size])
    for reader in (read_surface, _resume):
        with pytest.raises(LandscapeError, match=r"cut\.h5"):
            reader(path)


GRID_TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"-?[0-9.e]{0,5}:-?[0-9.e]{0,5}:-?[0-9]{0,4}", fullmatch=True),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6).map(
        lambda v: ",".join(map(str, v))
    ),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(GRID_TEXT)
def test_grid_text_gives_sorted_grid_or_landscape_error(text: str) -> None:
    try:
        grid = parse_grid(text, name="x")
    except LandscapeError as exc:
        assert str(exc).startswith("x: ") and "\n" not in str(exc)
    else:
        assert grid.ndim == 1 and len(grid) >= 1 and np.isfinite(grid).all()
        assert np.all(np.diff(grid) > 0)
