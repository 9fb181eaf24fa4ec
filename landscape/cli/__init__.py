"""The ``landscape`` command line: one click group, one module per subcommand.

Subcommands are imported only when invoked, so ``landscape --help`` stays fast
and heavy libraries (torch, matplotlib) load only where needed. Every
:class:`~landscape.errors.LandscapeError` becomes a one-line message and exit
status 1, without a traceback. At start the group fixes glibc's malloc
thresholds (:func:`landscape.allocator.tune_malloc`).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from landscape.allocator import tune_malloc
from landscape.errors import LandscapeError

COMMANDS: dict[str, tuple[str, str]] = {
    "surface": ("landscape.cli.surface", "Compute a 1D/2D loss surface around a checkpoint."),
    "plot": ("landscape.cli.plot", "Draw a figure from an HDF5 file or a run directory."),
    "info": ("landscape.cli.info", "Show what an HDF5 file holds and how it was made."),
    "train": ("landscape.cli.train", "Train a model with one optimizer, recording its dynamics."),
    "diagnose": (
        "landscape.cli.diagnose",
        "Name the phases and problems of a recorded training run.",
    ),
    "compare": (
        "landscape.cli.compare",
        "Compare training runs and write a report explaining the differences.",
    ),
    "demo": (
        "landscape.cli.demo",
        "Train five optimizers on MNIST-1D and write the comparison report (CPU, minutes).",
    ),
    "trajectory": (
        "landscape.cli.trajectory",
        "PCA plane of optimizer paths with the surface under them.",
    ),
    "hessian": (
        "landscape.cli.hessian",
        "Hessian eigenvalues, trace and spectral density at a checkpoint.",
    ),
    "sharpness": (
        "landscape.cli.sharpness",
        "Sharpness measures, incl. optimizer-preconditioned, at a checkpoint.",
    ),
    "connect": ("landscape.cli.connect", "Loss barriers between solutions: line, aligned, curve."),
    "curvature-map": (
        "landscape.cli.curvature_map",
        "Taylor model and λ_max/λ_min map over a stored surface.",
    ),
}
"""Subcommand name -> (module defining a click command named ``command``, short help)."""


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """All subcommand names, sorted."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the subcommand's module and return its ``command``."""
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[cmd_name][0])
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the subcommands with their short help, without importing them."""
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; user errors become one line and exit 1, Ctrl-C exit 130."""
        try:
            return super().invoke(ctx)
        except LandscapeError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo(
                "interrupted: completed work is saved; re-run the same command to resume", err=True
            )
            sys.exit(130)


@click.group(cls=LazyGroup)
@click.version_option(package_name="landscape")
@click.option("-v", "--verbose", count=True, help="More log output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or info lines.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Loss surfaces, curvature and training dynamics of PyTorch checkpoints."""
    ctx.obj = {"verbose": verbose, "quiet": quiet}
    tune_malloc()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="landscape")
