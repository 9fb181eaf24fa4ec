"""``--threads N``: torch's CPU threads while a command runs, one shared option for every command.

The default is :data:`DEFAULT_THREADS`, one thread per CPU core, chosen by
measurement (``scripts/bench_threads.py``, see BENCHMARKS.md, "Torch threads by
model size"): with the 2-core development machine to itself, two threads took
0.53-0.95x the time of one for a training step and for a Hessian-vector
product at every model size measured, from 10k to 10M parameters (0.53-0.72x
from 100k up), so one rule covers every size. On a machine shared with other
jobs one thread was faster (the earlier runs there); pass ``--threads 1`` then.
``landscape demo``, whose models are small, defaults to one thread
(:data:`landscape.cli.demo.DEMO_THREADS`).

The command sets the count for its own duration and restores it after, so the
library never changes threads unless asked. Commands that never import torch
(``info``, ``plot``) do not import it for this: until torch is imported the
count is passed through ``OMP_NUM_THREADS`` (restored after), which torch reads
when it loads.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_THREADS = os.cpu_count() or 1
"""One torch CPU thread per core: the fastest measured on idle cores at every size (10k-10M)."""


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the body with ``n`` torch CPU threads, restoring the previous setting after.

    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    if n < 1:
        raise click.BadParameter(f"expected a positive integer (got {n})", param_hint="--threads")
    if "torch" in sys.modules:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(previous)
        return
    previous_env = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(n)  # read by torch when the command imports it
    try:
        yield
    finally:
        if previous_env is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous_env


def threads_option(command: F | None = None, *, default: int = DEFAULT_THREADS) -> Any:
    """Add ``--threads N`` to a click command function and run it under :func:`torch_threads`.

    Put it directly below ``@click.command(...)``, above every other decorator:
    ``@threads_option`` (one thread per core) or ``@threads_option(default=1)``.
    """
    if command is None:
        return functools.partial(threads_option, default=default)

    @functools.wraps(command)
    def run(*args: Any, threads: int, **kwargs: Any) -> Any:
        with torch_threads(threads):
            return command(*args, **kwargs)

    return click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=default,
        show_default=True,
        help="torch CPU threads while the command runs (the default measured fastest; "
        "see BENCHMARKS.md).",
    )(run)
