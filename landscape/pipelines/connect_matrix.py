"""``connect RUN...``: the barrier matrix between the final checkpoints of several runs.

Each pair of runs is one resumable :func:`landscape.pipelines.connect.connect` file in the
output directory (``<run i>--<run j>.h5``); ``matrix.h5`` gathers their train-split barriers
into symmetric matrices, one per kind of path, which
:func:`landscape.connect.summary.sentences` turns into words with intervals over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from landscape.dynamics.runs import read_run
from landscape.errors import LandscapeError
from landscape.io import connect as io
from landscape.pipelines.connect import connect

MATRIX_FILE = "matrix.h5"


def parse_run(spec: str) -> tuple[str | None, Path]:
    """``LABEL=RUN_DIR`` or ``RUN_DIR`` -> ``(label or None, directory)``.

    >>> parse_run("sgd=runs/sgd-1")
    ('sgd', PosixPath('runs/sgd-1'))
    >>> parse_run("runs/adam")
    (None, PosixPath('runs/adam'))
    """
    label, sep, path = spec.partition("=")
    if sep and label and "/" not in label:
        return label, Path(path)
    return None, Path(spec)


def connect_runs(
    model: nn.Module | str,
    runs: Sequence[str],
    data: Any = "mnist1d",
    *,
    out_dir: str | Path,
    command: str | None = None,
    **options: Any,
) -> io.BarrierMatrix:
    """Connect the final checkpoints of every pair of runs and store the barrier matrix.

    Args:
        model: the runs' model (``nn.Module`` or spec, as the user names it).
        runs: run directories, each optionally ``LABEL=DIR``; runs sharing a label are seeds
            of one group (the label defaults to the directory name).
        data: a data spec or data.
        out_dir: directory for the pair files and ``matrix.h5``.
        command: the command line for provenance.
        **options: passed on to :func:`~landscape.pipelines.connect.connect` (``points``,
            ``align``, ``curve``, ...).

    Raises:
        LandscapeError: for fewer than two runs, a run without checkpoints or a repeated run.

    """
    if len(runs) < 2:
        raise LandscapeError(f"connect: expected at least two runs (got {len(runs)})")
    parsed = [parse_run(r) for r in runs]
    names, labels, checkpoints = [], [], []
    for label, path in parsed:
        run = read_run(path)
        if not run.checkpoints:
            raise LandscapeError(f"run {path}: has no checkpoints to connect")
        if run.name in names:
            raise LandscapeError(f"connect: run name {run.name!r} given twice; names must differ")
        names.append(run.name)
        labels.append(label or run.name)
        checkpoints.append(str(run.checkpoints[-1].path))
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise LandscapeError(f"--out: {folder} is a file; several runs need an output directory")
    folder.mkdir(parents=True, exist_ok=True)
    kinds = ["linear", *(["aligned"] if options.get("align") else [])]
    kinds += ["curve"] if options.get("curve") else []
    barriers = {k: np.where(np.eye(len(names), dtype=bool), 0.0, np.nan) for k in kinds}
    files = {}
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            pair = folder / f"{names[i]}--{names[j]}.h5"
            c = connect(
                model, checkpoints[i], checkpoints[j], data, out=pair, command=command, **options
            )
            files[f"{i},{j}"] = pair.name
            for k in kinds:
                value = c.barriers.get(f"{k}_barrier", float("nan"))
                barriers[k][i, j] = barriers[k][j, i] = value
    matrix = io.BarrierMatrix(names, labels, checkpoints, barriers, files, folder / MATRIX_FILE)
    io.write_matrix(matrix.path, matrix, command=command)
    return io.read_matrix(matrix.path)
