"""What ``--help`` and usage errors print: no literal escapes, every option described."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from landscape.cli import COMMANDS, cli


def _command(name: str) -> click.Command:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    return command


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_has_no_literal_escapes(name):
    res = CliRunner().invoke(cli, [name, "--help"])
    assert res.exit_code == 0, res.output
    assert "\\b" not in res.output and "\\\\" not in res.output and "\b" not in res.output
    assert res.output.startswith(f"Usage: landscape {name} ")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_a_description(name):
    undescribed = [
        p.name
        for p in _command(name).params
        if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip()
    ]
    assert undescribed == []


def test_examples_keep_their_line_breaks():
    out = CliRunner().invoke(cli, ["surface", "--help"]).output
    assert "  Example:\n    landscape surface --model mlp --checkpoint run/final.pt" in out
    assert out.count("landscape surface --model") == 1


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_quiet_and_verbose_after_the_subcommand(name):
    params = {opt for p in _command(name).params for opt in p.opts}
    assert {"-q", "--quiet", "-v", "--verbose"} <= params


def test_quiet_after_the_subcommand_silences(tmp_path):
    path = tmp_path / "s.h5"
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 5)
        f["train_loss"] = np.linspace(1, 2, 5)
    before = CliRunner().invoke(cli, ["-q", "plot", str(path), "--out", str(tmp_path / "a.png")])
    after = CliRunner().invoke(cli, ["plot", str(path), "-q", "--out", str(tmp_path / "b.png")])
    loud = CliRunner().invoke(cli, ["plot", str(path), "--out", str(tmp_path / "c.png")])
    assert before.exit_code == after.exit_code == loud.exit_code == 0
    assert before.output == after.output == ""
    assert loud.output.startswith("wrote ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["info", "missing.h5"],
            "Error: Invalid value for 'FILE': Path 'missing.h5' does not exist.",
        ),
        (["surface", "--bogus"], "Error: No such option '--bogus'."),
        (["plot"], "Error: Missing argument 'FILE_OR_RUN'."),
        (["no-such-command"], "Error: No such command 'no-such-command'."),
    ],
)
def test_usage_errors_exit_1_with_one_line(args, message):
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1
    assert res.stdout == ""
    assert res.stderr.splitlines() == [res.stderr.strip()]
    assert res.stderr.startswith(message)


def test_info_on_a_run_directory_is_one_line(tmp_path):
    (tmp_path / "run.h5").touch()
    res = CliRunner().invoke(cli, ["info", str(tmp_path)])
    assert res.exit_code == 1
    assert res.stderr.strip() == (
        f"Error: {tmp_path} is a directory; expected an HDF5 file, e.g. {tmp_path / 'run.h5'}"
    )
