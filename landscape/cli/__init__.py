"""The ``landscape`` command line: one click group, one module per subcommand.

Subcommands are imported only when invoked, so ``landscape --help`` stays fast
and heavy libraries (torch, matplotlib) load only where needed. Every
:class:`~landscape.errors.LandscapeError` becomes a one-line message and exit
status 1, without a traceback; so does every usage error click finds (an
unknown option, a missing file), instead of click's usage block and status 2.
``-q`` and ``-v`` work before and after the subcommand
(:data:`landscape.cli.options.verbosity_options`). At start the group fixes
glibc's malloc thresholds (:func:`landscape.allocator.tune_malloc`). Every
subcommand runs inside the torchrun session, opened in one place
(:func:`landscape.cli.options.in_rank_session`): those in :data:`SPLITS_WORK`
receive the distributed context explicitly, the others run on rank 0 alone.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from landscape.allocator import tune_malloc
from landscape.cli.options import in_rank_session, verbosity_options
from landscape.errors import LandscapeError

COMMANDS: dict[str, tuple[str, str]] = {
    "surface": ("landscape.cli.surface", "Compute a 1D/2D loss surface around a checkpoint."),
    "plot": ("landscape.cli.plot", "Draw a figure from an HDF5 file or a run directory."),
    "info": ("landscape.cli.info", "Show what an HDF5 file holds and how it was made."),
    "export-dirs": (
        "landscape.cli.export_dirs",
        "Write a file's directions in Li et al.'s layout.",
    ),
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

SPLITS_WORK = frozenset({"surface", "hessian", "sharpness", "curvature-map", "trajectory"})
"""Subcommands whose work the ranks share under torchrun (their callbacks take ``context``).

Every other subcommand runs on rank 0 alone under torchrun and says so
(:func:`landscape.cli.options.in_rank_session`).
"""


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """All subcommand names, sorted."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the subcommand's module; return its ``command``, run inside the torchrun session."""
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[cmd_name][0])
        return in_rank_session(module.command, splits_work=cmd_name in SPLITS_WORK)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the subcommands with their short help, without importing them."""
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Run the command line; in standalone mode every click error is one line and exit 1.

        Click's own usage errors (unknown option, missing argument, a path that
        does not exist) would print a usage block and exit 2; here they print
        ``Error: ...`` on one line and exit 1, as every other bad input does.
        """
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(1)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

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


@click.group("landscape", cls=LazyGroup)
@click.version_option(package_name="landscape")
@verbosity_options
def cli() -> None:
    """Loss surfaces, curvature and training dynamics of PyTorch checkpoints."""
    tune_malloc()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="landscape")
