"""Running the CLI as a user would, and the one-line error it must then print."""

from __future__ import annotations

from click.testing import CliRunner, Result

from landscape.cli import cli


def run(*args: str) -> Result:
    """``landscape -q ARGS``; an exception is caught into the result, as on a terminal."""
    return CliRunner().invoke(cli, ["-q", *args])


def one_line_error(res: Result) -> str:
    """The output of a run that failed with exit 1 and exactly one ``Error:`` line."""
    assert res.exit_code == 1, res.output
    assert len(res.output.strip().splitlines()) == 1 and res.output.startswith("Error: ")
    return res.output
