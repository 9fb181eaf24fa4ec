"""``landscape export-dirs``: a file's directions as a Li et al. 2018 direction file."""

from __future__ import annotations

import click

from landscape.cli import logs
from landscape.cli.limits import limit_options
from landscape.cli.options import command_line, overwrite_option, path_option, verbosity_options
from landscape.cli.threads import threads_option


@click.command("export-dirs")
@threads_option
@click.argument("source", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@path_option(
    "--out",
    "Direction file to write (xdirection/ydirection groups of datasets 0, 1, ...).",
    required=True,
)
@overwrite_option("Replace an existing --out.")
@click.pass_context
@verbosity_options
@limit_options
def command(ctx: click.Context, source: str, out: str, overwrite: bool) -> None:
    """Write the directions of FILE in the layout of Li et al.'s loss-landscape code.

    Their plot_surface.py reads it with --dir_file; arrays are in the model's
    parameters() order (our directions hold trainable parameters only, so a model
    with frozen parameters does not line up with theirs).

    \b
    Example:
      landscape export-dirs surf.h5 --out surf_dirs.h5
    """  # noqa: D301 (\b is click's no-rewrap mark)
    progress = logs.configure(ctx)
    from landscape.io.li2018 import export_directions

    names = export_directions(source, out, overwrite=overwrite, command=command_line())
    counts = ", ".join(f"{axis}: {len(n)} arrays" for axis, n in zip("xy", names, strict=False))
    click.echo(f"{out}: {counts}", err=not progress)
