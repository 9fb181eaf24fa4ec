"""Fixtures shared by the connect tests: one torch thread, and two trained MLPs."""

from __future__ import annotations

import pytest

from tests import connect_specs as specs


@pytest.fixture(autouse=True)
def one_thread():
    """Every connect test runs on one torch thread (its values do not depend on the count)."""
    with specs.OneThread():
        yield


@pytest.fixture
def pair(tmp_path):
    """Checkpoints of the MLP trained from seeds 0 and 1 (tests may override with their own)."""
    return (
        specs.trained(specs.mlp, 0, tmp_path / "a.pt"),
        specs.trained(specs.mlp, 1, tmp_path / "b.pt"),
    )
