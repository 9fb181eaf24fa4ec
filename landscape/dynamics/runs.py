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
from typing import Any, Literal

import numpy as np

from landscape.errors import LandscapeError
from landscape.io.run import GROUP, RUN_FILE, read_run_file, run_file

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


@dataclass(frozen=True)
class Run:
    """Everything a run directory records.

    Attributes:
        path: the run directory.
        name: its base name (used as a label).
        config: the configuration it was made with (JSON of ``dynamics/@config``).
        optimizer: optimizer name (e.g. ``adam``).
        hparams: optimizer hyperparameters.
        layers: parameter names, in model order (input side first).
        shapes: the shape of each parameter.
        epochs: per-epoch arrays: ``epoch``, ``step``, ``lr``, ``train_loss``,
            ``train_acc``, ``val_loss``, ``val_acc``, ``mean_step_loss``,
            ``grad_norm``, ``distance_from_init`` of shape ``(E,)``, and
            ``layer_grad_norm``, ``weight_norm``, ``update_ratio``,
            ``eff_step_p10``, ``eff_step_p50``, ``eff_step_p90`` of shape
            ``(E, len(layers))``; NaN where not defined.
        steps: per-step arrays ``step``, ``epoch``, ``loss``, ``lr``, ``grad_norm``.
        probes: ``step`` and one array per probe scalar (e.g. ``lambda_max``).
        checkpoints: the checkpoint files, ordered by step.
        diagnosis: the stored diagnosis (JSON) or ``None``.
        grad_every: the steps whose number is a multiple of it carry gradient
            norms; the others' ``grad_norm`` is NaN (1 in files without it).
        step_size_sample: the ``eff_step_*`` percentiles of layers with more
            entries come from this many entries drawn at random; ``None``:
            from every entry.

    """

    path: Path
    name: str
    config: dict[str, Any]
    optimizer: str
    hparams: dict[str, Any]
    layers: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    epochs: dict[str, np.ndarray]
    steps: dict[str, np.ndarray]
    probes: dict[str, np.ndarray]
    checkpoints: tuple[Checkpoint, ...]
    diagnosis: dict[str, Any] | None
    grad_every: int = 1
    step_size_sample: int | None = None

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
