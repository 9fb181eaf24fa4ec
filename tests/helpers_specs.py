"""Importable model/data specs for CLI tests (``tests.helpers_specs:tiny_net``)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import tiny_data, tiny_net

__all__ = ["TINY_SPEC", "tiny_args", "tiny_data", "tiny_net"]

TINY_SPEC = ["--model", "tests.helpers_specs:tiny_net", "--data", "tests.helpers_specs:tiny_data"]
"""The CLI options that name the tiny model and its data."""


def tiny_args(checkpoint: Path, *options: str) -> list[str]:
    """A command's arguments on the tiny model: ``TINY_SPEC``, ``--checkpoint``, then ``options``."""
    return [*TINY_SPEC, "--checkpoint", str(checkpoint), *options]
