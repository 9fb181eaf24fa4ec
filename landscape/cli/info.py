"""``landscape info FILE``: what an HDF5 file holds and how it was made.

The report is built by :func:`landscape.io.describe.describe`; this module
only parses and prints. Imports neither torch nor matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import click

from landscape.cli.limits import limit_options
from landscape.cli.options import verbosity_options
from landscape.cli.threads import threads_option
from landscape.errors import LandscapeError
from landscape.io.describe import describe


@click.command(
    help="Show what an HDF5 file holds (groups, datasets, points done, NaN counts) "
    "and how it was made."
)
@threads_option
@click.argument("path", metavar="FILE", type=click.Path(exists=True, path_type=Path))
@click.pass_context
@verbosity_options
@limit_options
def command(ctx: click.Context, path: Path) -> None:
    """Print :func:`describe` of ``path``; ``-v`` lists every tensor of name-keyed groups."""
    if path.is_dir():
        hint = f", e.g. {path / 'run.h5'}" if (path / "run.h5").is_file() else ""
        raise LandscapeError(f"{path} is a directory; expected an HDF5 file{hint}")
    root = ctx.find_root()
    verbose = bool(root.obj and root.obj.get("verbose"))
    click.echo(describe(path, verbose=verbose))
