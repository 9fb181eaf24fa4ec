"""``landscape info FILE``: what an HDF5 file holds and how it was made.

The report is built by :func:`landscape.io.describe.describe`; this module
only parses and prints. Imports neither torch nor matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import click

from landscape.io.describe import describe


@click.command(
    help="Show what an HDF5 file holds (groups, datasets, points done, NaN counts) "
    "and how it was made."
)
@click.argument(
    "path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.pass_context
def command(ctx: click.Context, path: Path) -> None:
    """Print :func:`describe` of ``path``; ``-v`` lists every tensor of name-keyed groups."""
    root = ctx.find_root()
    verbose = bool(root.obj and root.obj.get("verbose"))
    click.echo(describe(path, verbose=verbose))
