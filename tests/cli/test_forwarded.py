"""The options a command forwards by name are its own and its pipeline's parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import click
import pytest

from landscape.cli import connect as connect_cli
from landscape.cli import hessian as hessian_cli
from landscape.cli import sharpness as sharpness_cli
from landscape.cli import surface as surface_cli
from landscape.cli.options import forwarded
from landscape.pipelines.connect import connect
from landscape.pipelines.curvature import hessian
from landscape.pipelines.sharpness import sharpness
from landscape.pipelines.surface import surface


@pytest.mark.parametrize(
    ("command", "names", "pipeline"),
    [
        (hessian_cli.command, hessian_cli.HESSIAN_OPTIONS, hessian),
        (sharpness_cli.command, sharpness_cli.SHARPNESS_OPTIONS, sharpness),
        (surface_cli.command, surface_cli.SURFACE_OPTIONS, surface),
        (connect_cli.command, connect_cli.CONNECT_OPTIONS, connect),
    ],
    ids=["hessian", "sharpness", "surface", "connect"],
)
def test_every_forwarded_option_is_a_parameter_on_both_sides(
    command: click.Command, names: str, pipeline: Callable[..., Any]
) -> None:
    options = {p.name for p in command.params}
    arguments = set(inspect.signature(pipeline).parameters)
    assert set(names.split()) <= options
    assert set(names.split()) <= arguments


def test_forwarded_takes_the_named_options_only() -> None:
    kw = {"top_k": 5, "tol": 1e-3, "out": "c.h5"}
    assert forwarded(kw, "top_k  tol") == {"top_k": 5, "tol": 1e-3}
    assert forwarded(kw, "") == {}


def test_a_name_that_is_not_an_option_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="top_n"):
        forwarded({"top_k": 5}, "top_n")
