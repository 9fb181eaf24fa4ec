"""Read a run directory: metadata, per-step and per-epoch arrays, checkpoints.

A run directory (written by :class:`landscape.dynamics.recorder.Recorder`,
which ``landscape train`` uses) looks like::

    RUN/run.h5                      dynamics/ group: config, step/, epoch/, probe/
    RUN/checkpoints/init.pt         the initial point (epoch 0)
    RUN/checkpoints/epoch_0003.pt   after epoch 3
    RUN/checkpoints/step_00000500.pt  after global step 500 (optional)

The run file itself is read by :mod:`landscape.io.run`; this module adds the
checkpoint files. Neither imports torch, so plotting, the report and
``landscape compare`` can use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np

from landscape.errors import LandscapeError
from landscape.io.run import GROUP, RUN_FILE, RunFile, read_run_file, run_file

__all__ = [
    "CHECKPOINT_DIR",
    "GROUP",
    "RUN_FILE",
    "Checkpoint",
    "Run",
    "checkpoint_filename",
    "list_checkpoints",
    "read_run",
    "run_file",
]

CHECKPOINT_DIR = "checkpoints"

_NAME = re.compile(r"^(?:(init)|epoch_(\d+)|step_(\d+))\.pt$")


def checkpoint_filename(*, epoch: int | None = None, step: int | None = None) -> str:
    """File name of the checkpoint after ``epoch`` (epoch 0 is ``init``) or after global ``step``.

    >>> checkpoint_filename(epoch=0), checkpoint_filename(epoch=3), checkpoint_filename(step=500)
    ('init.pt', 'epoch_0003.pt', 'step_00000500.pt')
    """
    if (epoch is None) == (step is None):
        raise LandscapeError("checkpoint_filename: expected exactly one of epoch= or step=")
    if epoch is not None:
        return "init.pt" if epoch == 0 else f"epoch_{epoch:04d}.pt"
    return f"step_{step:08d}.pt"


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint file of a run.

    Attributes:
        path: the ``.pt`` file.
        kind: ``init``, ``epoch`` or ``step`` (from the file name).
        epoch: epochs completed when it was saved (``None`` for a step checkpoint
            whose epoch the run file does not tell).
        step: optimizer steps taken when it was saved (``None`` if unknown).

    """

    path: Path
    kind: Literal["init", "epoch", "step"]
    epoch: int | None
    step: int | None


@dataclass(frozen=True, kw_only=True)
class Run(RunFile):
    """Everything a run directory records: its run file's contents and its checkpoints.

    The attributes not listed here are those of :class:`~landscape.io.run.RunFile`.

    Attributes:
        path: the run directory.
        name: its base name (used as a label).
        checkpoints: the checkpoint files, ordered by step.

    """

    path: Path
    name: str
    checkpoints: tuple[Checkpoint, ...]

    @property
    def num_epochs(self) -> int:
        """Epochs completed (the initial evaluation, epoch 0, not counted)."""
        e = self.epochs.get("epoch")
        return int(e.max()) if e is not None and e.size else 0

    @property
    def adaptive(self) -> bool:
        """Whether effective step sizes were recorded (Adagrad, RMSprop, Adam, AdamW)."""
        p = self.epochs.get("eff_step_p50")
        return p is not None and bool(np.isfinite(p).any())


def list_checkpoints(
    run_dir: str | Path, *, epoch_steps: dict[int, int] | None = None
) -> tuple[Checkpoint, ...]:
    """List the checkpoint files of a run, ordered by step (init first).

    Args:
        run_dir: the run directory.
        epoch_steps: global step at the end of each epoch (from the run file),
            to fill in the step of epoch checkpoints and the epoch of step ones.

    """
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return ()
    epoch_steps = epoch_steps or {}
    found: list[Checkpoint] = []
    for path in folder.iterdir():
        m = _NAME.match(path.name)
        if m is None:
            continue
        if m.group(1):
            found.append(Checkpoint(path, "init", 0, 0))
        elif m.group(2):
            epoch = int(m.group(2))
            found.append(Checkpoint(path, "epoch", epoch, epoch_steps.get(epoch)))
        else:
            step = int(m.group(3))
            done = [e for e, s in epoch_steps.items() if s <= step]
            found.append(Checkpoint(path, "step", max(done) if done else None, step))

    def order(c: Checkpoint) -> tuple[float, int]:
        if c.step is not None:
            return (float(c.step), 0 if c.kind != "step" else 1)
        return (float("inf"), c.epoch or 0)

    return tuple(sorted(found, key=order))


def read_run(run_dir: str | Path) -> Run:
    """Read a run directory written by the Recorder.

    Raises:
        LandscapeError: if the directory or its ``run.h5`` is missing or holds
            no ``dynamics`` group.

    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LandscapeError(f"run directory not found: {run_dir}")
    path = run_file(run_dir)
    if not path.is_file():
        raise LandscapeError(
            f"{run_dir}: no {RUN_FILE}; expected a directory written by "
            "'landscape train' or a Recorder"
        )
    contents = read_run_file(path)
    epochs = contents.epochs
    epoch_steps = (
        {int(e): int(s) for e, s in zip(epochs["epoch"], epochs["step"], strict=True)}
        if "epoch" in epochs
        else {}
    )
    return Run(
        path=run_dir,
        name=run_dir.resolve().name,
        checkpoints=list_checkpoints(run_dir, epoch_steps=epoch_steps),
        **{f.name: getattr(contents, f.name) for f in fields(contents)},
    )
