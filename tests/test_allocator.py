"""The malloc tuning: applied on glibc Linux, a no-op elsewhere, called by the CLI."""

from __future__ import annotations

import platform

import pytest
from click.testing import CliRunner

from landscape import allocator
from landscape.cli import cli


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_thresholds_are_set_on_glibc():
    assert allocator.tune_malloc() is True


def test_no_op_outside_glibc(monkeypatch):
    monkeypatch.setattr(allocator.platform, "system", lambda: "Darwin")
    assert allocator.tune_malloc() is False


def test_cli_tunes_malloc_at_start(monkeypatch):
    calls = []
    monkeypatch.setattr("landscape.cli.tune_malloc", lambda: calls.append(1) or True)
    result = CliRunner().invoke(cli, ["info", "--help"])
    assert result.exit_code == 0
    assert calls == [1]
