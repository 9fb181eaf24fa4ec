"""The sampling units of :mod:`landscape.adaptive`: rows in one random order, or whole batches.

Rows are the units wherever the loss gives one value per row (:func:`per_row_loss`): the
built-in cross-entropy directly, any other summed loss through ``torch.func.vmap`` over its
rows. A row of a per-token task is one sequence, weighted by its counted tokens. Where neither
works (a user's loss that ``vmap`` cannot batch) the units are the split's batches, visited in
a random order, and a line says so.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import vmap

from landscape.adaptive_stats import in_order_sum
from landscape.data import IGNORE_INDEX, Inputs, take_rows
from landscape.errors import one_line
from landscape.objective import Objective

log = logging.getLogger(__name__)

PILOT_ROWS = 1000
"""Rows of the pilot that estimates a point's spread (a tenth of the split when that is fewer).

Its ``~1000 - 1 - q`` degrees of freedom put ``t`` at 1.96, the known-spread value: the pilot is
then the smallest cost of a point, 1.7% of a 60,000-row split.
"""

PILOT_BATCHES = 10
"""Pilot batches with batch units and one reference point (one more per further reference).

``10 - 2 = 8`` degrees of freedom: ``t_{0.975, 8} = 2.31``, about 38% more batches than a known
spread would need.
"""


def pilot_rows(rows: int, *, references: int) -> int:
    """``min(PILOT_ROWS, N / 10)`` rows of ``N``, at least 9 more than the slopes fitted.

    >>> pilot_rows(60_000, references=5), pilot_rows(600, references=5), pilot_rows(50, references=5)
    (1000, 60, 14)
    """
    return max(min(PILOT_ROWS, math.ceil(rows / 10)), references + 9)


Call = Callable[[Inputs], Tensor]
"""Inputs -> the scored model output at the current point."""
RowLoss = Callable[[Tensor, Tensor], Tensor]


def per_row_loss(objective: Objective) -> RowLoss | None:
    """Each row's loss, summing to ``objective.loss_sum`` of the batch; ``None`` if not to be had.

    ``torch.nn.CrossEntropyLoss`` with ``reduction="none"``; any other summed loss through
    ``vmap`` over rows of one-row batches, checked on the split's first two rows.
    """
    loss = objective.loss_sum
    if type(loss) is nn.CrossEntropyLoss:
        return functools.partial(
            nn.functional.cross_entropy,
            weight=loss.weight,
            ignore_index=loss.ignore_index,
            label_smoothing=loss.label_smoothing,
            reduction="none",
        )
    rows = vmap(lambda out, y: loss(out.unsqueeze(0), y.unsqueeze(0)))
    x, y = take_rows(objective.split.x, slice(0, 2)), objective.split.y[:2]
    try:
        with torch.inference_mode():
            out = objective.call(objective.model, x)
            values, total = rows(out, y), loss(out, y)
        if values.shape != (len(y),) or not torch.allclose(
            values.double().sum(), total.double(), rtol=1e-4, atol=1e-6
        ):
            raise ValueError(f"per-row values of shape {tuple(values.shape)} do not sum to it")
    except Exception as exc:  # any failure of vmap means batch units
        log.warning(
            "tolerance: no per-row losses from loss %r (%s); sampling whole batches instead",
            objective.loss_spec,
            one_line(exc),
        )
        return None
    return rows


def row_sizes(objective: Objective) -> np.ndarray | None:
    """Each row's divisor: 1, or its counted tokens for per-token scoring (``None`` if unknown)."""
    y = objective.split.y
    if y.is_floating_point() or y.dim() == 1:
        return np.ones(len(y)) if objective.num_samples == len(y) else None
    labels = y[:, 1:] if objective.task == "lm" else y
    counts = (labels != IGNORE_INDEX).flatten(1).sum(dim=1)
    if int(counts.sum()) == objective.num_samples:
        return counts.double().cpu().numpy()
    return np.ones(len(y)) if objective.num_samples == len(y) else None


class RowUnits:
    """Rows of the split in one random order, evaluated in batches of the objective's size.

    Args:
        objective: Loss, data and model.
        per_row: Each row's loss (:func:`per_row_loss`).
        sizes: Each row's divisor in the split's order (:func:`row_sizes`).
        seed: Seed of the row order.
    """

    def __init__(self, objective: Objective, per_row: RowLoss, sizes: np.ndarray, seed: int):
        self.objective = objective
        self.per_row = per_row
        generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(len(sizes), generator=generator)
        self._order_on_device = self.order.to(objective.device)
        self.sizes = sizes[self.order.numpy()]
        self._blocks: list[tuple[Inputs, Tensor]] = []

    def pilot(self, references: int) -> int:
        """:func:`pilot_rows` of this split."""
        return pilot_rows(len(self.sizes), references=references)

    def sample(self, call: Call, start: int, stop: int) -> tuple[np.ndarray, int]:
        """Losses of the rows at positions ``[start, stop)`` of the order, and their correct count."""
        obj = self.objective
        values = torch.empty(stop - start, dtype=torch.float64, device=obj.device)
        correct = torch.zeros((), dtype=torch.int64, device=obj.device)
        size = obj.batch_size
        for block in range(start // size, math.ceil(stop / size)):
            lo, hi = max(start, block * size), min(stop, (block + 1) * size)
            x, y = self._block(block)
            rows = slice(lo - block * size, hi - block * size)
            x, y = take_rows(x, rows), y[rows]
            out = call(x)
            values[lo - start : hi - start] = self.per_row(out, y)
            if obj.has_accuracy:
                correct += obj.num_correct(out, y)
        return values.cpu().numpy(), int(correct)

    def _block(self, block: int) -> tuple[Inputs, Tensor]:
        """Rows ``[block B, (block + 1) B)`` of the order, gathered once and kept for every point.

        So the memory held grows with the rows the points use, up to one copy of the split.
        """
        while len(self._blocks) <= block:
            size = self.objective.batch_size
            index = self._order_on_device[len(self._blocks) * size : (len(self._blocks) + 1) * size]
            split = self.objective.split
            self._blocks.append((take_rows(split.x, index), split.y[index]))
        return self._blocks[block]

    def reference(self, call: Call) -> tuple[np.ndarray, float, float]:
        """One pass in the split's batch order: row losses (in the sampled order), loss, acc."""
        obj = self.objective
        rows = torch.empty(len(self.sizes), dtype=torch.float64, device=obj.device)
        sums, correct, start = [], torch.zeros((), dtype=torch.int64, device=obj.device), 0
        for x, y in obj.batches():
            out = call(x)
            sums.append(obj.loss_sum(out, y).double())
            rows[start : start + len(y)] = self.per_row(out, y)
            if obj.has_accuracy:
                correct += obj.num_correct(out, y)
            start += len(y)
        loss = in_order_sum(torch.stack(sums).cpu().numpy()) / obj.num_samples
        acc = int(correct) / obj.num_samples if obj.has_accuracy else math.nan
        return rows[self._order_on_device].cpu().numpy(), loss, acc


class BatchUnits:
    """The split's batches in one random order (where per-row losses cannot be had).

    Args:
        objective: Loss, data and model.
        seed: Seed of the batch order.
    """

    def __init__(self, objective: Objective, seed: int):
        self.objective = objective
        self.batches = list(objective.batches())
        generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(len(self.batches), generator=generator)
        counts = np.array([objective.count(y) for _, y in self.batches], dtype=np.float64)
        self.sizes = counts[self.order.numpy()]

    def pilot(self, references: int) -> int:
        """:data:`PILOT_BATCHES` batches, one more per reference point after the first."""
        return PILOT_BATCHES + max(references - 1, 0)

    def sample(self, call: Call, start: int, stop: int) -> tuple[np.ndarray, int]:
        """Summed losses of the batches at positions ``[start, stop)``, and their correct count."""
        return self._sums(call, self.order[start:stop].tolist())

    def reference(self, call: Call) -> tuple[np.ndarray, float, float]:
        """One pass in the split's batch order: batch sums (in the sampled order), loss, acc."""
        obj = self.objective
        in_order, correct = self._sums(call, range(len(self.batches)))
        acc = correct / obj.num_samples if obj.has_accuracy else math.nan
        return in_order[self.order.numpy()], in_order_sum(in_order) / obj.num_samples, acc

    def _sums(self, call: Call, indices: Sequence[int]) -> tuple[np.ndarray, int]:
        """Summed losses of the batches ``indices`` (in that order), and their correct count."""
        obj = self.objective
        sums = torch.empty(len(indices), dtype=torch.float64, device=obj.device)
        correct = torch.zeros((), dtype=torch.int64, device=obj.device)
        for j, index in enumerate(indices):
            x, y = self.batches[index]
            out = call(x)
            sums[j] = obj.loss_sum(out, y)
            if obj.has_accuracy:
                correct += obj.num_correct(out, y)
        return sums.cpu().numpy(), int(correct)


def unit_source(objective: Objective, seed: int) -> RowUnits | BatchUnits:
    """Rows where per-row losses and divisors can be had, else batches."""
    per_row = per_row_loss(objective)
    sizes = row_sizes(objective) if per_row is not None else None
    if per_row is None or sizes is None:
        return BatchUnits(objective, seed)
    return RowUnits(objective, per_row, sizes, seed)
