"""The torchrun session opened in one place for every subcommand (``in_rank_session``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from landscape.cli import COMMANDS, SPLITS_WORK, cli
from landscape.cli.options import in_rank_session
from landscape.distributed import TORCHRUN_VARS, Context
from tests.test_distributed_surface import torchrun

LI_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "li2018" / "li_full1d.h5"


def _recording(calls: list[dict[str, Any]]) -> click.Command:
    @click.command("toy")
    @click.option("--device", default="cpu")
    def toy(**kw: Any) -> None:
        calls.append(kw)
        click.echo("worked")

    return toy


def _ranks(monkeypatch: pytest.MonkeyPatch, rank: int | None, world: int = 2) -> None:
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    if rank is not None:
        env = {"RANK": rank, "WORLD_SIZE": world, "LOCAL_RANK": rank, "MASTER_ADDR": "127.0.0.1"}
        for name, value in {**env, "MASTER_PORT": 29500}.items():
            monkeypatch.setenv(name, str(value))


def test_outside_torchrun_a_command_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    _ranks(monkeypatch, None)
    calls: list[dict[str, Any]] = []
    for splits in (False, True):
        res = CliRunner().invoke(in_rank_session(_recording(calls), splits_work=splits), [])
        assert res.exit_code == 0 and res.output == "worked\n"
    assert calls == [{"device": "cpu"}, {"device": "cpu", "context": Context()}]


def test_single_process_command_runs_on_rank_0_only_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []
    command = in_rank_session(_recording(calls), splits_work=False)
    _ranks(monkeypatch, 1)
    res = CliRunner().invoke(command, [])
    assert res.exit_code == 0 and res.output == "" and calls == []
    _ranks(monkeypatch, 0)
    res = CliRunner().invoke(command, [])
    assert res.exit_code == 0 and calls == [{"device": "cpu"}]
    assert res.output == (
        "toy: runs in one process; under torchrun rank 0 does all the work "
        "and the other 1 rank(s) stop\nworked\n"
    )


def test_the_wrapped_copy_leaves_the_command_itself_unchanged() -> None:
    command = _recording([])
    wrapped = in_rank_session(command, splits_work=True)
    assert wrapped is not command and wrapped.callback is not command.callback
    assert wrapped.params == command.params and wrapped.name == command.name


def test_every_command_that_splits_work_is_a_command() -> None:
    assert set(COMMANDS) >= SPLITS_WORK


def test_under_torchrun_info_prints_once_and_names_the_single_process() -> None:
    res = torchrun("info", str(LI_FILE))
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("info: runs in one process") == 1
    assert res.stdout == CliRunner().invoke(cli, ["-q", "info", str(LI_FILE)]).output


def test_number_option_takes_any_sign_and_path_option_refuses_the_wrong_kind(
    tmp_path: Path,
) -> None:
    from landscape.cli.options import number_option, path_option

    @click.command("toy")
    @number_option("--level", None, "A level.")
    @number_option("--rate", 0.5, "A rate.")
    @path_option("--run", "A run folder.", folder=True)
    @path_option("--file", "A file.")
    def toy(**kw: Any) -> None:
        click.echo(repr(sorted(kw.items())))

    res = CliRunner().invoke(toy, ["--level", "-2.5"])
    assert res.exit_code == 0
    assert res.output == "[('file', None), ('level', -2.5), ('rate', 0.5), ('run', None)]\n"
    assert "[default: 0.5]" in CliRunner().invoke(toy, ["--help"]).output
    (tmp_path / "f.txt").write_text("x")
    assert CliRunner().invoke(toy, ["--run", str(tmp_path / "f.txt")]).exit_code == 2
    assert CliRunner().invoke(toy, ["--file", str(tmp_path)]).exit_code == 2
    res = CliRunner().invoke(toy, ["--run", str(tmp_path), "--file", str(tmp_path / "f.txt")])
    assert res.exit_code == 0


def test_command_line_records_positional_arguments_then_changed_options() -> None:
    from landscape.cli.options import command_line

    @click.command("toy")
    @click.argument("runs", nargs=-1)
    @click.argument("surface")
    @click.option("--steps", type=int, default=5)
    @click.option("--flag", is_flag=True)
    def toy(**_: Any) -> None:
        click.echo(command_line())

    res = CliRunner().invoke(toy, ["--steps", "7", "a b", "r2", "s.h5"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "landscape toy 'a b' r2 s.h5 --steps=7"
    res = CliRunner().invoke(toy, ["s.h5", "--steps", "5", "--flag"])
    assert res.output.strip() == "landscape toy s.h5 --flag"
