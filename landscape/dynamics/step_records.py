"""What the Recorder keeps between writes: one named record per step, epoch and probe call.

Values computed on the device stay there in the records; :func:`step_columns`
(and :func:`landscape.dynamics.epoch_stats.epoch_columns`) copy a whole batch
of them to the host at write time, in one transfer per column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

Metric = tuple[float | Tensor, float | Tensor] | float | Tensor | None
"""An epoch metric: ``(loss, accuracy)`` or just the loss (floats or 0-d tensors)."""


class StepRecord(NamedTuple):
    """One optimizer step, as :meth:`Recorder.step` leaves it.

    Attributes:
        step: the global step number (from 1).
        epoch: the epoch it belongs to (from 1).
        loss: the mini-batch loss (a 0-d tensor stays on its device).
        lr: the first parameter group's learning rate.
        grad_norms: the per-layer gradient norms (0-d tensors), at sampled
            steps only (``grad_every``); ``None`` at the others.
    """

    step: int
    epoch: int
    loss: float | Tensor
    lr: float
    grad_norms: Sequence[Tensor] | None


class ProbeRecord(NamedTuple):
    """One call of the Recorder's probe.

    Attributes:
        step: the global step it was called after.
        values: what it returned, by name.
    """

    step: int
    values: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """One epoch, as :meth:`Recorder.epoch` leaves it (the weight norms stay on their device).

    Attributes:
        epoch: the epoch number (0: the initial point).
        step: the optimizer steps taken by its end.
        lr: the first parameter group's learning rate.
        train: training ``(loss, accuracy)``, NaN where not given.
        val: validation ``(loss, accuracy)``, NaN where not given.
        weight_norms: ``||w||``, ``||w - w_prev||``, ``||w_prev||`` and
            ``||w - w_0||`` per layer, concatenated (``4 L`` values;
            :func:`landscape.dynamics.epoch_stats.weight_norms`).
        step_size: the effective step-size percentiles 10, 50 and 90 per layer,
            shape ``(3, L)`` (:func:`landscape.dynamics.step_sizes.step_size_percentiles`).
    """

    epoch: int
    step: int
    lr: float
    train: tuple[float, float]
    val: tuple[float, float]
    weight_norms: Tensor
    step_size: np.ndarray


def loss_and_accuracy(value: Metric) -> tuple[float, float]:
    """An epoch metric as ``(loss, accuracy)`` floats, NaN where not given (one host copy each).

    >>> loss_and_accuracy((torch.tensor(0.5), 0.75)), loss_and_accuracy(2.0)
    ((0.5, 0.75), (2.0, nan))
    """
    if value is None:
        return float("nan"), float("nan")
    if isinstance(value, tuple):
        return _scalar(value[0]), _scalar(value[1])
    return _scalar(value), float("nan")


def _scalar(value: float | Tensor) -> float:
    return float(value.detach()) if isinstance(value, Tensor) else float(value)


@dataclass(frozen=True, slots=True)
class StepSums:
    """Sums over some steps of one epoch: what its mean loss and RMS gradient norms need.

    An epoch's steps may reach two writes (one before it ends), so its sums
    are carried from one write to the next and added up.

    Attributes:
        loss: the sum of the mini-batch losses.
        steps: how many steps.
        grad_sq: per layer, the sum of the squared gradient norms over the sampled steps.
        sampled: how many of the steps were sampled (``grad_every``).

    >>> a = StepSums(1.0, 2, np.array([4.0]), 1)
    >>> (a + a).steps, (a + a).grad_sq.tolist()
    (4, [8.0])
    """

    loss: float
    steps: int
    grad_sq: np.ndarray
    sampled: int

    def __add__(self, other: StepSums) -> StepSums:
        return StepSums(
            self.loss + other.loss,
            self.steps + other.steps,
            self.grad_sq + other.grad_sq,
            self.sampled + other.sampled,
        )


def step_columns(
    steps: Sequence[StepRecord], layers: int
) -> tuple[dict[str, np.ndarray], dict[int, StepSums]]:
    """The ``step`` table's columns for ``steps``, and their sums by epoch.

    ``grad_norm`` is the global gradient norm ``sqrt(sum_l ||g^l||^2)``, NaN at
    unsampled steps.

    Args:
        steps: the records, in order (epochs non-decreasing).
        layers: how many layers each sampled step's ``grad_norms`` holds.

    Returns:
        ``(columns, sums)``: the columns ``step``, ``epoch``, ``loss``, ``lr``
        and ``grad_norm``, and :func:`sums_by_epoch` of the steps.
    """
    epochs = np.array([s.epoch for s in steps], dtype=np.int64)
    losses = to_host([s.loss for s in steps])
    sampled = np.array([s.grad_norms is not None for s in steps])
    grad_sq = np.zeros((len(steps), layers))
    if sampled.any():
        norms = to_host([x for s in steps if s.grad_norms is not None for x in s.grad_norms])
        grad_sq[sampled] = np.square(norms).reshape(-1, layers)
    columns = {
        "step": np.array([s.step for s in steps], dtype=np.int64),
        "epoch": epochs,
        "loss": losses,
        "lr": np.array([s.lr for s in steps], dtype=np.float64),
        "grad_norm": np.where(sampled, np.sqrt(grad_sq.sum(1)), np.nan),
    }
    return columns, sums_by_epoch(epochs, losses, grad_sq, sampled)


def sums_by_epoch(
    epochs: np.ndarray, losses: np.ndarray, grad_sq: np.ndarray, sampled: np.ndarray
) -> dict[int, StepSums]:
    """Add up step records by epoch (``epochs`` in order, non-decreasing).

    Args:
        epochs: ``(S,)`` the epoch of each step.
        losses: ``(S,)`` mini-batch losses.
        grad_sq: ``(S, L)`` squared per-layer gradient norms, zero at unsampled steps.
        sampled: ``(S,)`` whether each step was sampled.

    >>> sums = sums_by_epoch(np.array([1, 1, 2]), np.array([1.0, 3.0, 5.0]),
    ...                      np.ones((3, 1)), np.array([True, False, True]))
    >>> sums[1].loss, sums[1].steps, sums[1].sampled, sums[2].steps
    (4.0, 2, 1, 1)
    """
    starts = np.flatnonzero(np.r_[True, epochs[1:] != epochs[:-1]])
    counts = np.diff(np.r_[starts, len(epochs)])
    loss = np.add.reduceat(losses, starts)
    sq = np.add.reduceat(grad_sq, starts, axis=0)
    hits = np.add.reduceat(sampled.astype(np.int64), starts)
    return {
        int(e): StepSums(float(total), int(n), layer_sq, int(k))
        for e, total, n, layer_sq, k in zip(epochs[starts], loss, counts, sq, hits, strict=True)
    }


def probe_columns(probes: Sequence[ProbeRecord]) -> dict[str, np.ndarray]:
    """The ``probe`` table's columns: ``step`` (float64) and one per value name, NaN where absent.

    >>> cols = probe_columns([ProbeRecord(2, {"a": 1.0}), ProbeRecord(4, {"b": 2.0})])
    >>> {k: v.tolist() for k, v in cols.items()}
    {'a': [1.0, nan], 'b': [nan, 2.0], 'step': [2.0, 4.0]}
    """
    rows = [{"step": float(p.step), **p.values} for p in probes]
    keys = sorted({k for row in rows for k in row})
    return {k: np.array([row.get(k, np.nan) for row in rows]) for k in keys}


def to_host(values: Sequence[float | Tensor]) -> np.ndarray:
    """Scalars as one float64 array: floats as they are, 0-d tensors stacked (one host copy).

    Reading the tensors here, at write time, and not at each step saves an
    ``.item()`` per step, which is a device sync on an accelerator.

    >>> to_host([0.5, torch.tensor(0.25)]).tolist()
    [0.5, 0.25]
    """
    tensors = [v for v in values if isinstance(v, Tensor)]
    if len(tensors) == len(values) and tensors:  # the usual case: all tensors
        return torch.stack(tensors).double().cpu().numpy()
    out = np.array([v if isinstance(v, float) else np.nan for v in values], dtype=np.float64)
    if tensors:
        on_device = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
        out[on_device] = torch.stack(tensors).double().cpu().numpy()
    return out
