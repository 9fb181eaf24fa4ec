"""``landscape demo``: five optimizers on MNIST-1D over seeds, compared in a report (CPU, minutes)."""

from __future__ import annotations

import click

from landscape.cli import logs
from landscape.cli.limits import limit_options
from landscape.cli.options import command_line, device_option, verbosity_options
from landscape.cli.threads import threads_option

DEMO_THREADS = 1
"""The demo's default ``--threads``: its MNIST-1D models are small, and on this 2-core
machine the default demo took 120 s with one thread, against 7.5 minutes and (with a test
run beside it) over 15 with two (BENCHMARKS.md, "Demo and report")."""


@click.command("demo")
@threads_option(default=DEMO_THREADS)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="demo",
    show_default=True,
    help="Demo folder (sweep/, runs/, gd/, report/).",
)
@click.option(
    "--quick", "size", flag_value="quick", help="Tiny version, under a minute (for tests)."
)
@click.option(
    "--full", "size", flag_value="full", help="Larger version (longer training, finer grids)."
)
@device_option
@click.option("--overwrite", is_flag=True, help="Replace a demo of another size in --out.")
@click.pass_context
@verbosity_options
@limit_options
def command(ctx: click.Context, out: str, size: str | None, device: str, overwrite: bool) -> None:
    """Train SGD, SGD+momentum, Adagrad, RMSprop and Adam on MNIST-1D and explain the differences.

    Each optimizer's learning rate comes from a short sweep the demo runs first; each is
    then trained from several seeds and compared with intervals over seeds; a full-batch
    gradient-descent run shows the edge of stability. Needs no download (MNIST-1D is
    generated locally). The default size takes a few minutes on 2 CPU cores; re-running
    reuses what is finished.

    Example: landscape demo --out demo/
    """
    progress = logs.configure(ctx)
    from landscape.pipelines.demo import run_demo

    result = run_demo(
        out,
        size=size or "default",
        device=device,
        progress=progress,
        overwrite=overwrite,
        threads=None,  # set by --threads for the whole command
        command=command_line(),
    )
    if progress:
        for sentence in result.report.sentences:
            click.echo(f"- {sentence}")
    click.echo(f"report: {result.report.html}")
