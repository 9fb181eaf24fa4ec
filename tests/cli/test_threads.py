"""``--threads N`` on every command: torch's thread count for the command's duration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

import landscape.pipelines.surface
from landscape.cli import COMMANDS, cli
from landscape.cli.demo import DEMO_THREADS
from landscape.cli.threads import DEFAULT_THREADS, torch_threads

LI_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "li2018" / "li_full2d.h5"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_threads(name):
    command = cli.get_command(click.Context(cli), name)
    option = next(p for p in command.params if "--threads" in p.opts)
    assert option.default == (DEMO_THREADS if name == "demo" else DEFAULT_THREADS)


@pytest.fixture
def seen_threads(monkeypatch):
    """Replace the surface API by a stub that records torch's thread count when called."""
    seen: list[int] = []

    def fake_surface(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise landscape.errors.LandscapeError("stub: stopped after recording threads")

    monkeypatch.setattr(landscape.pipelines.surface, "surface", fake_surface)
    return seen


@pytest.mark.parametrize(("flag", "expected"), [([], DEFAULT_THREADS), (["--threads", "2"], 2)])
def test_command_runs_with_the_threads_and_restores_them(seen_threads, ckpt, flag, expected):
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        args = ["surface", "--model", "mlp", "--checkpoint", str(ckpt), "--out", "s.h5", *flag]
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 1 and "stub: stopped" in res.output
        assert seen_threads == [expected]
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_threads_below_one_is_one_line():
    res = CliRunner().invoke(cli, ["info", "--threads", "0", "x.h5"])
    assert res.exit_code == 1 and "--threads" in res.output and len(res.output.splitlines()) == 1
    with pytest.raises(click.BadParameter, match="positive integer"), torch_threads(0):
        pass


def test_before_torch_is_imported_the_count_goes_through_the_environment():
    code = (
        "import os, sys\n"
        "from landscape.cli.threads import torch_threads\n"
        "os.environ.pop('OMP_NUM_THREADS', None)\n"
        "with torch_threads(1):\n"
        "    assert 'torch' not in sys.modules\n"
        "    import torch\n"
        "    assert torch.get_num_threads() == 1, torch.get_num_threads()\n"
        "assert 'OMP_NUM_THREADS' not in os.environ\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_info_does_not_import_torch():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from landscape.cli import cli\n"
        f"res = CliRunner().invoke(cli, ['info', {str(LI_FILE)!r}])\n"
        "assert res.exit_code == 0, res.output\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
