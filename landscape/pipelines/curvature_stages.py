"""Running curvature stages resumably: each stage computed once, committed as it finishes.

``landscape hessian`` and ``landscape sharpness`` are lists of stages (top
eigenpairs, trace, one sharpness measure, ...) over one matrix-vector
operator; :func:`run_stages` computes those not yet stored in the output
file, writes each as soon as it is done, and reads the others back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from landscape import store
from landscape.curvature.linop import Progress
from landscape.io import curvature as io
from landscape.progress import progress as progress_bar

if TYPE_CHECKING:
    from landscape.pipelines.curvature import Setup


def run_stages(
    setup: Setup,
    kind: str,
    config: dict[str, Any],
    stages: dict[str, Callable[[Any], Any]],
    *,
    operator: Callable[[Any], Any],
    budgets: dict[str, int],
    out: str | Path | None,
    overwrite: bool,
    progress: bool,
    command: str | None,
    finished: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compute the stages not yet in ``out``, commit each one as it finishes, return them all.

    Under torchrun (``setup.context`` of an active process group) every rank computes on
    its share of the data and holds the same results; rank 0 alone touches
    the file, shows progress, and returns the stages read back from ``out``
    along with those computed now. ``operator`` makes the matrix from the distributed
    context.

    The bar's total is the most products the stages to run may take
    (``budgets``, 0 for a stage not listed); when a stage stops early the
    total drops by what it left unspent, so it ends equal to the count.

    ``finished``, when given, is filled with every stage's result as soon as
    it is known (those stored before the first stage runs, on every rank), so a
    later stage can build on an earlier one whether or not this run computed it.
    """
    ctx = setup.context
    main = ctx.is_main
    with store.writer_lock(out) if out is not None and main else contextlib.nullcontext():
        done = ctx.on_main(lambda: open_stages(kind, config, out, overwrite, command))
        todo = [s for s in stages if s not in done]
        results: dict[str, Any] = {}
        if finished is not None and todo and done:
            finished.update(ctx.broadcast(io.read_stages(out, kind) if main else None))
        if todo:
            budget = {name: budgets.get(name, 0) for name in todo}
            matrix_op = operator(ctx)
            bar = progress_bar(
                desc=f"{kind} {Path(out).name}" if out is not None else kind,
                unit=f"{matrix_op.name}-vector product",
                total=sum(budget.values()),
                enabled=progress and main,
            )
            op = Progress(matrix_op, bar)
            try:
                for name in todo:
                    bar.set_postfix_str(name)
                    before = op.num_matvecs
                    results[name] = stages[name](op)
                    if finished is not None:
                        finished[name] = results[name]
                    bar.total -= budget[name] - (op.num_matvecs - before)
                    bar.refresh()
                    if out is not None and main:
                        io.write_stage(out, kind, name, results[name])
            finally:
                bar.close()
            ctx.barrier()
    if out is not None and main:
        results = {**io.read_stages(out, kind), **results}
    return results


def open_stages(
    kind: str, config: dict[str, Any], out: str | Path | None, overwrite: bool, command: str | None
) -> set[str]:
    """Stages already in ``out`` (resume) after creating its group if needed.

    Raises:
        LandscapeError: if ``out`` holds this group made with other settings (without
            ``overwrite``), or is not a file this tool can write.

    """
    if out is None:
        return set()
    if store.check_resumable(out, f"{io.GROUP}/{kind}", config, overwrite=overwrite):
        return io.stored_stages(out, kind)
    io.create_stage(out, kind, config, command=command)
    return set()
