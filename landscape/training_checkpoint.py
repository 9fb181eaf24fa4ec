"""The checkpoints ``landscape train`` writes: the optimizer state in them and a resume from one.

A checkpoint is ``{"model": state_dict, "optimizer": optimizer.state_dict(),
"optimizer_name", "optimizer_hparams", "epoch", "step", "rng_state"}``. Files
are read by :func:`landscape.loading.load_torch_file` (weights only unless
trusted); every malformed part gives one line naming the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from landscape.curvature.preconditioned import OptimizerState, from_state_dict
from landscape.errors import LandscapeError
from landscape.loading import build_model, check_state_fits, load_torch_file

OPTIMIZER_NAMES = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
"""Optimizers whose state the curvature code understands (case-insensitive class names)."""


def load_optimizer_state_dict(
    path: str | Path, *, name: str | None = None, trust: bool = False
) -> tuple[dict[str, Any], str]:
    """Read an optimizer ``state_dict`` and its optimizer's name from a file.

    Accepts a ``landscape train`` checkpoint (the name is stored in it) or a
    bare ``optimizer.state_dict()`` (then ``name`` is required; a given
    ``name`` wins over the stored one).

    Returns:
        ``(state_dict, name)`` with the name in lower case.

    Raises:
        LandscapeError: if the file is unreadable, holds no well-formed
            optimizer state, or the name is missing or unknown.

    """
    path = Path(path)
    obj = load_torch_file(path, trust=trust, what="optimizer state")
    if isinstance(obj, Mapping) and "optimizer" in obj:
        state, name = obj["optimizer"], name or obj.get("optimizer_name")
    else:
        state = obj
    if not isinstance(state, Mapping) or "param_groups" not in state:
        raise LandscapeError(
            f"optimizer state {path}: expected a checkpoint with an 'optimizer' state dict "
            "or a bare optimizer state_dict"
        )
    check_optimizer_state(state, source=f"optimizer state {path}")
    if not name:
        raise LandscapeError(
            f"optimizer state {path}: the optimizer's name is unknown; "
            f"pass --optimizer-name ({', '.join(OPTIMIZER_NAMES)})"
        )
    if not isinstance(name, str) or name.lower() not in OPTIMIZER_NAMES:
        raise LandscapeError(
            f"optimizer state {path}: unknown optimizer {name!r}; expected one of "
            f"{', '.join(OPTIMIZER_NAMES)}"
        )
    return dict(state), name.lower()


def check_optimizer_state(state: Mapping[Any, Any], *, source: str) -> None:
    """Check the layout of an ``optimizer.state_dict()`` before anything indexes into it.

    ``param_groups`` must be a non-empty list of dicts, each with ``params``
    (a list of integer indices) and, where present, a finite ``lr >= 0``;
    ``state`` must map those indices to dicts of per-parameter state.

    >>> check_optimizer_state({"state": {}, "param_groups": [{"params": [0], "lr": 0.1}]}, source="s")
    >>> check_optimizer_state({"state": {}, "param_groups": "x"}, source="s")
    Traceback (most recent call last):
    landscape.errors.LandscapeError: s: 'param_groups' must be a non-empty list of dicts (got str)

    Raises:
        LandscapeError: naming the first malformed part.

    """
    groups = state.get("param_groups")
    if not isinstance(groups, list | tuple) or not groups:
        raise LandscapeError(
            f"{source}: 'param_groups' must be a non-empty list of dicts (got {type(groups).__name__})"
        )
    for i, group in enumerate(groups):
        if not isinstance(group, Mapping):
            raise LandscapeError(
                f"{source}: param_groups[{i}] is {type(group).__name__}, not a dict"
            )
        params = group.get("params")
        if not isinstance(params, list | tuple) or not all(
            isinstance(p, int) and not isinstance(p, bool) for p in params
        ):
            raise LandscapeError(
                f"{source}: param_groups[{i}]['params'] must be a list of parameter indices"
            )
        lr = group.get("lr", 0.0)
        if not isinstance(lr, int | float) or not math.isfinite(lr) or lr < 0:
            raise LandscapeError(
                f"{source}: param_groups[{i}]['lr'] must be a finite number >= 0 (got {lr!r})"
            )
    per_param = state.get("state")
    if not isinstance(per_param, Mapping) or not all(
        isinstance(v, Mapping) for v in per_param.values()
    ):
        raise LandscapeError(f"{source}: 'state' must map parameter indices to dicts")


def restore_training_state(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    probe: object | None = None,
) -> dict[str, Any]:
    """Load a ``landscape train`` checkpoint into ``model`` and ``optimizer`` to resume a run.

    The global torch RNG state is restored when the checkpoint holds one, and
    so is the state of a ``probe`` with ``load_state_dict`` (the sharpness
    probe's Lanczos warm start) when the checkpoint holds a ``probe`` entry.

    Returns:
        The checkpoint's dict (``epoch``, ``step``, ...).

    Raises:
        LandscapeError: if the file is damaged, empty or of another model or
            optimizer; the message names the file and says how to start again.

    """
    path = Path(path)
    again = "pass --overwrite to start the run again"
    try:
        saved = load_torch_file(path, what="checkpoint")
    except LandscapeError as exc:
        raise LandscapeError(f"{exc}; cannot resume from it, {again}") from exc
    if not isinstance(saved, Mapping) or not {"model", "optimizer"} <= set(saved):
        raise LandscapeError(
            f"checkpoint {path}: expected a dict with 'model' and 'optimizer'; cannot resume "
            f"from it, {again}"
        )
    try:
        if not isinstance(saved["model"], Mapping):
            raise LandscapeError(f"checkpoint {path}: 'model' is not a state dict")
        check_state_fits(model, saved["model"], source=str(path))
        check_optimizer_state(saved["optimizer"], source=f"checkpoint {path}")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if "rng_state" in saved:
            torch.set_rng_state(saved["rng_state"])
        load_probe_state = getattr(probe, "load_state_dict", None)
        if callable(load_probe_state) and "probe" in saved:
            load_probe_state(saved["probe"])
    except LandscapeError as exc:
        raise LandscapeError(f"{exc}; cannot resume from it, {again}") from exc
    except (RuntimeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise LandscapeError(
            f"checkpoint {path}: cannot resume from it ({type(exc).__name__}: {reason}); {again}"
        ) from exc
    return dict(saved)


def load_optimizer_state(
    path: str | Path, model: nn.Module | str, *, name: str | None = None, trust: bool = False
) -> OptimizerState:
    """Read an optimizer state from a checkpoint file.

    Accepts ``landscape train``'s checkpoints (``{"model": ..., "optimizer":
    state_dict, "optimizer_name": "adam", ...}``) or a bare optimizer
    ``state_dict()`` (then ``name`` is required). Indices map to the model's
    trainable parameters in ``named_parameters()`` order.

    Raises:
        LandscapeError: if the file is unreadable, holds no optimizer state, or
            its name is unknown.

    """
    state, name = load_optimizer_state_dict(path, name=name, trust=trust)
    net = build_model(model) if isinstance(model, str) else model
    names = [n for n, p in net.named_parameters() if p.requires_grad]
    return from_state_dict(state, name, dict(enumerate(names)))
