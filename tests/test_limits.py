"""The safety limits: an override beats the environment, which beats the default."""

from __future__ import annotations

import pytest

from landscape import limits
from landscape.errors import LandscapeError


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (limits.MAX_GRID_ENV, limits.MAX_UNSTORED_ENV, limits.FOLLOW_EXTERNAL_ENV):
        monkeypatch.delenv(name, raising=False)
    assert limits.current() == limits.Limits(1_000_000, 64 * 2**20, False)


def test_environment_then_override_then_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.MAX_GRID_ENV, "50")
    monkeypatch.setenv(limits.MAX_UNSTORED_ENV, "1000")
    monkeypatch.setenv(limits.FOLLOW_EXTERNAL_ENV, "0")
    assert limits.current() == limits.Limits(50, 1000, False)
    with limits.override(max_grid_points=7, follow_external_links=True):
        assert limits.current() == limits.Limits(7, 1000, True)
        with limits.override(max_unstored_bytes=3):
            assert limits.current() == limits.Limits(7, 3, True)
        assert limits.current() == limits.Limits(7, 1000, True)
    assert limits.current() == limits.Limits(50, 1000, False)


def test_override_is_restored_after_an_exception() -> None:
    before = limits.current()
    with pytest.raises(RuntimeError), limits.override(max_grid_points=1):
        raise RuntimeError("stop")
    assert limits.current() == before


def test_environment_not_a_number_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.MAX_GRID_ENV, "many")
    with pytest.raises(LandscapeError, match="LANDSCAPE_MAX_GRID_POINTS: expected a whole number"):
        limits.current()
