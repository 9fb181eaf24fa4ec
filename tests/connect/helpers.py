"""Small helpers shared by the connect tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from click.testing import CliRunner, Result

from landscape.cli import cli
from landscape.io.connect import Connection


def run(*args: str) -> Result:
    """``landscape -q ARGS``, exceptions raised rather than caught."""
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)


def assert_resumed_equals_whole(resumed: Connection, whole: Connection) -> None:
    """A resumed linear path holds the uninterrupted run's values and barriers exactly."""
    for m, v in whole.paths["linear"].values.items():
        np.testing.assert_array_equal(resumed.paths["linear"].values[m], v)
    assert resumed.barriers == whole.barriers


def dies_after(real: Callable[..., Any], calls: int) -> Callable[..., Any]:
    """``real``, except that call number ``calls + 1`` raises ``KeyboardInterrupt`` (Ctrl-C)."""
    made = {"n": 0}

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        made["n"] += 1
        if made["n"] == calls + 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    return wrapped
