"""A run's checkpoint files (``RUN/checkpoints/*.pt``): saved atomically, chosen and loaded to resume.

The file names and their listing are :mod:`landscape.dynamics.runs`'s; this
module adds what needs torch.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from landscape.dynamics.runs import CHECKPOINT_DIR, Checkpoint, list_checkpoints
from landscape.store import private_temporary


def save_checkpoint(
    run_dir: Path,
    name: str,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    hparams: Mapping[str, Any],
    epoch: int,
    step: int,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Save ``RUN/checkpoints/<name>``: a private temporary first, then renamed over the old one.

    The file holds ``model`` and ``optimizer`` (their state dicts),
    ``optimizer_name`` (the class name, lower case), ``optimizer_hparams``,
    ``epoch``, ``step``, ``rng_state`` (torch's CPU generator) and the entries of
    ``extra`` (e.g. the sharpness probe's warm start under ``probe``).

    Returns:
        The checkpoint's path.
    """
    folder = run_dir / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with private_temporary(path) as tmp:
        torch.save(
            _canonical(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "optimizer_name": type(optimizer).__name__.lower(),
                    "optimizer_hparams": dict(hparams),
                    "epoch": epoch,
                    "step": step,
                    "rng_state": torch.get_rng_state(),
                    **(extra or {}),
                }
            ),
            tmp,
        )
    return path


def _canonical(obj: Any) -> Any:
    """``obj`` with every string interned and every container rebuilt; tensors kept as they are.

    ``torch.save`` pickles a string it has seen before as a reference to it, so two
    checkpoints of equal values could differ in bytes with the history of their strings
    (an optimizer resumed from a file holds other string objects than a fresh one). A
    checkpoint's SHA-256 identifies it downstream (``compare.h5``, profile configs), so
    its bytes must depend on its values alone: equal strings become one object here.
    """
    if isinstance(obj, str):
        return sys.intern(obj)
    if isinstance(obj, dict):
        out = type(obj)((_canonical(k), _canonical(v)) for k, v in obj.items())
        if hasattr(obj, "_metadata"):  # a module state dict's versions
            out._metadata = _canonical(obj._metadata)
        return out
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a named tuple
        return type(obj)(*(_canonical(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_canonical(v) for v in obj)
    return obj


def resume_checkpoint(run_dir: Path, epoch_steps: Mapping[int, int]) -> Checkpoint | None:
    """The checkpoint to resume from: the last of ``init.pt`` and the recorded epochs' ones.

    Args:
        run_dir: the run directory.
        epoch_steps: the recorded epochs and the steps taken by their ends (from the run file).

    Returns:
        The checkpoint, or ``None`` if there is none to resume from.
    """
    usable = [
        c
        for c in list_checkpoints(run_dir, epoch_steps=dict(epoch_steps))
        if c.kind == "init" or (c.kind == "epoch" and c.epoch in epoch_steps)
    ]
    return usable[-1] if usable else None
