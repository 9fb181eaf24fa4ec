"""The one loader: model, checkpoint, data, split, loss, dtype and device -> Objectives.

Every command and API turns what the user named into the objects the maths
needs through :func:`load_objective`, so they all agree on the device
(``auto``: CUDA when present), on how a checkpoint is read, on which rows of
which split are evaluated, and on what is recorded for provenance.

Specs read from a file (a run's stored configuration) go through
:func:`run_spec` first: a file never chooses code to import unless the user
says so.

>>> from landscape.models import MLP
>>> from landscape.data import Data, Split
>>> data = Data({"train": Split(torch.zeros(8, 4), torch.zeros(8, dtype=torch.long))}, "zeros")
>>> loaded = load_objective(MLP(4, 2, hidden=(3,)), None, data, device="cpu")
>>> sorted(loaded.objectives), loaded.device
(['train'], device(type='cpu'))
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from torch import nn

from landscape.data import SPLITS, Data, Inputs, Split, SplitChoice, as_splits, load_data, subset
from landscape.devices import resolve_device
from landscape.distributed import Context, rank_device
from landscape.errors import LandscapeError, model_errors
from landscape.evaluators import use_as_parameters
from landscape.loading import build_model, file_sha256, load_checkpoint
from landscape.models import MODELS
from landscape.objective import Objective
from landscape.params import ParamDict, model_buffers, model_params, to_device

DType = Literal["float32", "float64"]
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}
BUILTIN_DATA = ("mnist1d",)
"""Data specs that name no code."""


@dataclass(frozen=True)
class Loaded:
    """A model at its reference point, with one :class:`Objective` per data split.

    Attributes:
        model: the model (its own weights untouched; the reference point is ``params``).
        params: reference parameters by name, on ``device`` (in the requested dtype).
        buffers: reference buffers (BatchNorm statistics) by name, on ``device``.
        objectives: one objective per data split, by split name (empty without data).
        data: the loaded data (no splits, source ``none``, when none was asked for).
        device: where everything lives (this rank's device under torchrun).
        context: the distributed context the pipeline passes on.
        model_name: the model spec, or the class name of a model object.
        checkpoint_sha256: content hash of the checkpoint (``None``: the model's own weights).

    """

    model: nn.Module
    params: ParamDict
    buffers: ParamDict
    objectives: dict[str, Objective]
    data: Data
    device: torch.device
    context: Context
    model_name: str
    checkpoint_sha256: str | None

    @property
    def objective(self) -> Objective:
        """The objective of the only (or first) split."""
        if not self.objectives:
            raise LandscapeError("setup: no data was loaded, so there is no objective")
        return next(iter(self.objectives.values()))


def load_objective(
    model: nn.Module | str,
    checkpoint: str | Path | None = None,
    data: str | Data | Any | None = "mnist1d",
    *,
    split: SplitChoice = "both",
    max_samples: int | None = None,
    seed: int = 0,
    loss: str = "cross_entropy",
    batch_size: int | None = 1000,
    dtype: DType | None = None,
    device: str | torch.device = "auto",
    trust_checkpoint: bool = False,
    context: Context | None = None,
    task: str | None = None,
    output: str | None = None,
    accuracy: bool = True,
) -> Loaded:
    """Build the model, read its checkpoint and the data, and make the objectives.

    Args:
        model: an ``nn.Module`` or a model spec (built-in name, ``module:callable``,
            ``file.py:callable``); a spec is only ever what the user typed, or
            one :func:`run_spec` allowed.
        checkpoint: the reference weights (``None``: the model's own).
        data: ``mnist1d``, a ``module:callable`` spec, a :class:`~landscape.data.Data`,
            anything :func:`~landscape.data.as_splits` accepts, or ``None`` for no data.
        split: ``train``, ``test`` or ``both`` (whichever exist).
        max_samples: a fixed random subset of at most this many rows per split.
        seed: seed of that subset.
        loss: loss spec (see :func:`~landscape.objective.resolve_loss`).
        batch_size: rows per forward pass (``None``: a split at once).
        dtype: ``float32`` or ``float64`` for the weights and floating data
            (``None``: as they come).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.
        trust_checkpoint: fully unpickle checkpoints (unsafe: runs code inside them).
        context: the distributed context (``None``: a single process); under
            torchrun a bare ``cuda`` becomes this rank's GPU.
        task: ``classification``, ``regression``, ``lm`` or ``mlm`` (``None``: inferred).
        output: the field of the model's output to score (``None``: the tensor, a
            tuple's first element, or ``logits``).
        accuracy: compute accuracy where it is defined.

    Raises:
        LandscapeError: for a bad device or dtype, a checkpoint that does not fit
            the model, data without the split, or data the model does not accept.

    """
    if dtype is not None and dtype not in get_args(DType):
        raise LandscapeError(f"dtype: expected float32 or float64 (got {dtype!r})")
    ctx = context or Context()
    dev = rank_device(resolve_device(device), ctx)
    net = build_model(model) if isinstance(model, str) else model
    if checkpoint is not None:
        params, buffers = load_checkpoint(net, checkpoint, trust=trust_checkpoint)
    else:
        params, buffers = model_params(net), model_buffers(net)
    keep = dtype == "float64"
    loaded = (
        Data({}, "none")
        if data is None
        else _load_data(
            data, split=split, max_samples=max_samples, seed=seed, device=dev, keep_float64=keep
        )
    )
    if dtype is not None:
        net, params, buffers, loaded = _cast(net, params, buffers, loaded, DTYPES[dtype])
    params, buffers = to_device(params, dev), to_device(buffers, dev)
    objectives = {}
    for name, part in loaded.splits.items():
        with model_errors(name):
            objectives[name] = Objective(
                net,
                part,
                loss=loss,
                batch_size=batch_size,
                buffers=buffers,
                task=task,
                output=output,
                accuracy=accuracy,
            )
    _share_weights(list(objectives.values()))
    return Loaded(
        model=net,
        params=params,
        buffers=buffers,
        objectives=objectives,
        data=loaded,
        device=dev,
        context=ctx,
        model_name=model if isinstance(model, str) else type(model).__qualname__,
        checkpoint_sha256=None if checkpoint is None else file_sha256(checkpoint),
    )


def _share_weights(objectives: list[Objective]) -> None:
    """Let the objectives' private model copies hold one set of weights between them.

    Each :class:`Objective` copies the model; the copies' parameters are only the
    structure that ``functional_call`` fills in (nothing writes into them), so the
    second split's and later ones become views of the first's: one copy of the
    weights whatever the number of splits.
    """
    if not objectives:
        return
    first = {name: p.data for name, p in objectives[0].model.named_parameters()}
    for obj in objectives[1:]:
        use_as_parameters(obj.model, first)


def _load_data(
    data: Any,
    *,
    split: SplitChoice,
    max_samples: int | None,
    seed: int,
    device: torch.device,
    keep_float64: bool,
) -> Data:
    """The requested split(s) of ``data`` on ``device``, subset to ``max_samples`` rows each.

    ``keep_float64`` keeps float64 tensors as they come (for float64 curvature).
    """
    if isinstance(data, str):
        return load_data(
            data,
            split=split,
            max_samples=max_samples,
            seed=seed,
            device=device,
            keep_float64=keep_float64,
        )
    loaded = (
        data
        if isinstance(data, Data)
        else Data(
            as_splits(data, source="python object", keep_float64=keep_float64), "python object"
        )
    )
    wanted = SPLITS if split == "both" else (split,)
    kept = {k: v for k, v in loaded.splits.items() if k in wanted}
    if not kept or (split != "both" and split not in kept):
        raise LandscapeError(
            f"data {loaded.source!r} has no {split!r} split (it has {sorted(loaded.splits)})"
        )
    if max_samples is not None:
        kept = {k: subset(s, max_samples, seed) for k, s in kept.items()}
    return Data(kept, loaded.source).to(device)


def _cast(
    net: nn.Module, params: ParamDict, buffers: ParamDict, data: Data, dtype: torch.dtype
) -> tuple[nn.Module, ParamDict, ParamDict, Data]:
    """Weights, floating buffers and floating data in ``dtype``; the caller's model is copied."""

    def floats(t: torch.Tensor) -> torch.Tensor:
        return t.to(dtype) if t.is_floating_point() else t

    def inputs(x: Inputs) -> Inputs:
        return {k: floats(v) for k, v in x.items()} if isinstance(x, dict) else floats(x)

    data = Data({k: Split(inputs(s.x), floats(s.y)) for k, s in data.splits.items()}, data.source)
    return (
        copy.deepcopy(net).to(dtype=dtype),
        {k: v.to(dtype) for k, v in params.items()},
        {k: floats(v) for k, v in buffers.items()},
        data,
    )


def run_spec(
    stored: Any,
    given: str | None,
    *,
    what: Literal["model", "data", "loss"],
    source: str | Path,
    trust_run_config: bool = False,
) -> str:
    """Choose the spec of ``what`` for a run: the one typed, else a safe one the run stored.

    A file never chooses code to import (DESIGN.md, "Files never choose
    code"): a stored spec is used only when it names no code (a built-in
    model, ``mnist1d``, a ``torch.nn`` loss name), when the user typed it
    (``given`` overrides whatever the run stores), or with ``trust_run_config``.

    Args:
        stored: the spec in the run's configuration (``None`` if it names none).
        given: the spec on the command line (``None``: not given).
        what: ``model``, ``data`` or ``loss`` (names the ``--`` option in errors).
        source: the run, for the error message.
        trust_run_config: accept a stored spec that imports code (unsafe).

    Raises:
        LandscapeError: if the run does not say how to rebuild ``what``, or
            names code to import without the user's consent.

    >>> run_spec("mlp", None, what="model", source="runs/a")
    'mlp'
    >>> run_spec("evil.py:f", "mlp", what="model", source="runs/a")
    'mlp'
    """
    if given is not None:
        return given
    option = f"--{what}"
    if not isinstance(stored, str) or not stored:
        raise LandscapeError(f"{source}: the run does not say which {what} it used; pass {option}")
    if ":" in stored:
        if trust_run_config:
            return stored
        raise LandscapeError(
            f"{source}: the run names {what} code {stored!r}, which a file may not choose; "
            f"pass {option} {stored} to run it (or --trust-run-config)"
        )
    if what == "model" and stored not in MODELS:
        raise LandscapeError(
            f"{source}: the run names its model {stored!r}, which is no built-in, "
            f"so it cannot be rebuilt; pass {option}"
        )
    if what == "data" and stored not in BUILTIN_DATA:
        raise LandscapeError(
            f"{source}: the run names its data {stored!r}, which is no built-in; pass {option}"
        )
    return stored


@dataclass(frozen=True)
class RunSpecs:
    """How one run's model, data and loss are rebuilt (see :func:`landscape.setup.run_spec`)."""

    model: str
    data: str
    loss: str

    @classmethod
    def of(
        cls,
        config: dict[str, Any],
        source: str | Path,
        *,
        model: str | None,
        data: str | None,
        loss: str | None,
        trust_run_config: bool,
    ) -> RunSpecs:
        """The specs typed by the user, else those of the run's ``config`` that name no code.

        ``source`` (the run) names the run in error messages.

        Raises:
            LandscapeError: if the run does not say how to rebuild its model or
                data, or names code without the user's consent.

        """

        def spec(what: Literal["model", "data", "loss"], stored: Any, given: str | None) -> str:
            return run_spec(
                stored, given, what=what, source=source, trust_run_config=trust_run_config
            )

        return cls(
            spec("model", config.get("model"), model),
            spec("data", config.get("data"), data),
            spec("loss", config.get("loss") or "cross_entropy", loss),
        )
