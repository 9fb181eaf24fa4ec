"""Losses to a stated tolerance: each point on a prefix of one random batch order.

A surface figure needs every point's loss to a tolerance, not to the last row of the split.
The split's batches are visited in one fixed random order (the same at every point, so
neighbouring points share their samples and the surface keeps its shape); a point uses the
first ``k`` batches of that order, with ``k`` chosen so that the 95% confidence half-width of
its mean loss is at most the tolerance (or ``k = K``, every batch).

**Estimator.** The batches are a cluster sample of the split drawn without replacement. With
``S_i`` a batch's summed loss, ``m_i`` its rows (or counted tokens) and ``C_i`` the summed
loss of a *reference point* (the surface's origin, a path's start) on the same batch, known on
every batch from one full pass, the mean loss per row is the regression estimator (Cochran
1977, *Sampling Techniques*, sections 6.3 and 7.1)

    L = R + b (L_C - R_C),    R = sum S_i / sum m_i,   R_C = sum C_i / sum m_i,

over the ``k`` batches used, with ``L_C`` the reference's full-data mean and ``b`` the least
squares slope of ``u_i = S_i - R m_i`` on ``v_i = C_i - R_C m_i``. Neighbouring points
rank the rows alike (hard rows are hard at both), so the residual ``e_i = u_i - b v_i`` is far
smaller than ``u_i``: near the origin a point needs a few batches instead of a third of the
split. Its variance, with the finite-population correction, is

    SE(L)^2 = (1 - k/K) s^2 / k,    s^2 = sum e_i^2 / ((n - 2) mbar^2),

with ``K`` the split's batches and ``mbar`` the mean batch size.

**Stopping rule** (Stein 1945, "A two-sample test for a linear hypothesis whose power is
independent of the variance", *Ann. Math. Statist.* 16, two-stage procedure). ``s^2`` is
estimated once, on a pilot of the first ``n0 =`` :data:`PILOT_BATCHES` batches (``df = n0 - 2``
degrees of freedom), and the point then uses

    k = max(n0, ceil(t^2 s^2 / (TOL^2 + t^2 s^2 / K))),    t = t_{0.975, df},

the fewest batches whose half-width ``t sqrt((1 - k/K) s^2 / k)`` is at most ``TOL``. Because
the batch count depends on the pilot's variance only, the interval keeps its 95% coverage. A
rule that stops at the first ``k`` whose own half-width is below ``TOL`` stops when its
variance estimate is low by chance and covers less (measured: 93-94% with 5-15 batches).

**Stored standard error.** ``loss_se`` is the half-width divided by ``z_{0.975} = 1.96``, so
that ``1.96 loss_se`` (about two of them) is the point's 95% interval whatever its degrees of
freedom. Accuracy carries its binomial standard error ``sqrt(p (1 - p) / n) sqrt(1 - n / N)``
over the ``n`` rows used of ``N``.

**Full data.** A point that needs every batch sums them in the split's own batch order, so its
values equal the full-data evaluation exactly, with standard errors 0.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats as sps
from torch import Tensor

from landscape.data import Split
from landscape.errors import LandscapeError
from landscape.evaluators import BNMode, PointEvaluator
from landscape.objective import Objective
from landscape.params import ParamDict

PILOT_BATCHES = 10
"""Batches of the pilot that estimates a point's spread (fewer only when the split has fewer).

Its ``10 - 2 = 8`` degrees of freedom put ``t_{0.975, 8} = 2.31`` against 1.96 for a known
spread: the price of estimating it, about 38% more batches than an oracle would use. A smaller
pilot pays a larger ``t``, a larger one forces more batches on points near the origin.
"""

Z95 = float(sps.norm.ppf(0.975))
"""``z_{0.975}``: the stored standard error is the 95% half-width divided by it."""

BatchValues = Callable[[int], tuple[Tensor, Tensor | None]]
"""Batch index -> (its summed loss, its correct count or ``None``) at the current point."""


@functools.cache
def t_quantile(df: int) -> float:
    """``t_{0.975, df}``, the Student-t quantile of a two-sided 95% interval.

    >>> round(t_quantile(8), 4)
    2.306
    """
    return float(sps.t.ppf(0.975, df))


def batches_needed(variance: float, df: int, tolerance: float, total: int) -> int:
    """Stein's second-stage batch count: the fewest ``k`` with ``t^2 (1 - k/K) s^2 / k <= TOL^2``.

    Args:
        variance: ``s^2``, the pilot's variance per batch of the mean loss per row.
        df: its degrees of freedom.
        tolerance: the largest 95% half-width.
        total: ``K``, the split's batches (the result is at most ``K``).

    >>> batches_needed(0.0, 8, 0.1, 60)
    0
    >>> batches_needed(1.0, 8, 0.1, 10**9)  # t^2 / TOL^2 = 531.7...
    532
    """
    spread = t_quantile(df) ** 2 * variance
    if not math.isfinite(spread):
        return total
    return min(total, math.ceil(spread / (tolerance**2 + spread / total)))


def regression_fit(
    sums: np.ndarray, rows: np.ndarray, reference: np.ndarray | None
) -> tuple[float, float, int]:
    """Slope ``b``, residual variance ``s^2`` and its degrees of freedom over sampled batches.

    ``u_i = S_i - R m_i``, ``v_i = C_i - R_C m_i``, ``b = sum u v / sum v^2``, ``e = u - b v``,
    ``s^2 = sum e^2 / (df mbar^2)`` with ``df = n - 2`` (``n - 1`` and ``b = 0`` without a
    reference). See the module formulas.

    Args:
        sums: each sampled batch's summed loss ``S_i``.
        rows: each sampled batch's rows ``m_i``.
        reference: the reference point's summed loss ``C_i`` on the same batches, or ``None``.

    >>> regression_fit(np.array([2.0, 4.0, 3.0]), np.full(3, 2.0), None)
    (0.0, 0.25, 2)
    >>> b, s2, df = regression_fit(np.array([2.0, 4.0, 3.0]), np.full(3, 2.0), np.array([1, 2, 1.5]))
    >>> round(b, 12), round(s2, 12), df
    (2.0, 0.0, 1)
    """
    u = sums - sums.sum() / rows.sum() * rows
    b, residual, df = 0.0, u, len(sums) - 1
    if reference is not None:
        v = reference - reference.sum() / rows.sum() * rows
        vv = float(v @ v)
        b = float(u @ v) / vv if vv > 0 else 0.0
        residual, df = u - b * v, df - 1
    return b, float(residual @ residual) / (df * float(rows.mean()) ** 2), df


def binomial_standard_error(p: float, n: int, population: int) -> float:
    """``sqrt(p (1 - p) / n) sqrt(1 - n / N)``: a sampled proportion's standard error.

    >>> binomial_standard_error(0.5, 100, 100)
    0.0
    >>> round(binomial_standard_error(0.5, 25, 10**9), 6)
    0.1
    """
    if n <= 0:
        return math.nan
    return math.sqrt(p * (1.0 - p) / n * max(0.0, 1.0 - n / population))


def check_tolerance(tolerance: float | None, points_per_pass: int | None = None) -> None:
    """Refuse a tolerance that is not a positive number, or one with several points per pass.

    Raises:
        LandscapeError: on a bad ``tolerance``, or ``points_per_pass`` > 1 with a tolerance.
    """
    if tolerance is None:
        return
    if not (math.isfinite(tolerance) and tolerance > 0):
        raise LandscapeError(f"tolerance: expected a positive number (got {tolerance})")
    if points_per_pass is not None and points_per_pass > 1:
        raise LandscapeError(
            f"tolerance: an adaptive surface evaluates one point per pass "
            f"(got --points-per-pass {points_per_pass})"
        )


@dataclass(frozen=True)
class PointValues:
    """One point's adaptive values.

    Attributes:
        loss: Estimated mean loss per row (exact at full data).
        acc: Accuracy over the rows used (NaN without accuracy).
        loss_se: Standard error of ``loss`` (95% half-width / 1.96; 0 at full data).
        acc_se: Binomial standard error of ``acc``.
        rows: Rows (or counted tokens) used.
    """

    loss: float
    acc: float
    loss_se: float
    acc_se: float
    rows: int


@dataclass(frozen=True)
class AdaptiveValues:
    """Per-point values of an adaptive evaluation: :class:`PointValues` fields as arrays."""

    loss: np.ndarray
    acc: np.ndarray
    loss_se: np.ndarray
    acc_se: np.ndarray
    rows: np.ndarray


class SequentialMean:
    """The pilot, the batch count and the estimate of the module, over one split's batches.

    Args:
        rows: rows (or counted tokens) of each batch, in the split's order.
        tolerance: the largest 95% half-width of a point's mean loss.
        seed: seed of the batch order (one order for every point).
        device: where the per-batch sums are gathered.
    """

    def __init__(self, rows: Sequence[int], *, tolerance: float, seed: int, device: torch.device):
        check_tolerance(tolerance)
        self.rows = np.asarray(rows, dtype=np.float64)
        self.num_samples = int(self.rows.sum())
        self.tolerance = tolerance
        self.device = device
        generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(len(self.rows), generator=generator).tolist()
        self.reference: np.ndarray | None = None
        self.reference_mean = math.nan
        self.reference_values: PointValues | None = None

    @classmethod
    def over(
        cls,
        batches: Sequence[tuple[Any, Any]],
        objective: Objective,
        *,
        tolerance: float,
        seed: int,
    ) -> SequentialMean:
        """The sampler of ``objective``'s ``batches``, each weighted by its counted rows or tokens."""
        return cls(
            [objective.count(y) for _, y in batches],
            tolerance=tolerance,
            seed=seed,
            device=objective.device,
        )

    def set_reference(self, batch: BatchValues, *, with_correct: bool) -> None:
        """Evaluate the reference point on every batch (``batch`` at that point).

        Its full-data values are kept as :attr:`reference_values` (standard errors 0).
        """
        sums, correct = self._gather(batch, range(len(self.rows)), with_correct=with_correct)
        self.reference = sums
        self.reference_mean = _in_order_sum(sums) / self.num_samples
        acc = int(correct.sum()) / self.num_samples if with_correct else math.nan
        self.reference_values = PointValues(
            self.reference_mean, acc, 0.0, 0.0 if with_correct else math.nan, self.num_samples
        )

    def estimate(self, batch: BatchValues, *, with_correct: bool) -> PointValues:
        """The current point's values, calling ``batch`` on the batches it needs."""
        total = len(self.rows)
        pilot = self.order[: min(PILOT_BATCHES, total)]
        sums, correct = self._gather(batch, pilot, with_correct=with_correct)
        if len(pilot) < total and math.isfinite(float(sums.sum())):
            reference = None if self.reference is None else self.reference[pilot]
            _, variance, df = regression_fit(sums, self.rows[pilot], reference)
            need = max(len(pilot), batches_needed(variance, df, self.tolerance, total))
        else:  # the split is no larger than the pilot, or a non-finite loss (the full one is too)
            variance, df, need = math.nan, 0, len(pilot)
        rest = self.order[len(pilot) : need]
        more_sums, more_correct = self._gather(batch, rest, with_correct=with_correct)
        used = pilot + rest
        sums, correct = np.concatenate([sums, more_sums]), np.concatenate([correct, more_correct])
        if len(used) == total:  # the split's own batch order: equals the full-data evaluation
            by_batch = np.empty(total)
            by_batch[used] = sums
            loss, loss_se = _in_order_sum(by_batch) / self.num_samples, 0.0
        else:
            loss = self._regression_estimate(sums, used)
            scale = (1 - len(used) / total) * variance / len(used)
            loss_se = t_quantile(df) * math.sqrt(scale) / Z95 if df > 0 else math.nan
        rows_used = int(self.rows[used].sum())
        if not with_correct:
            return PointValues(loss, math.nan, loss_se, math.nan, rows_used)
        acc = int(correct.sum()) / rows_used
        acc_se = binomial_standard_error(acc, rows_used, self.num_samples)
        return PointValues(loss, acc, loss_se, acc_se, rows_used)

    def _regression_estimate(self, sums: np.ndarray, used: list[int]) -> float:
        """``R + b (L_C - R_C)`` over the batches ``used`` (``R`` without a reference)."""
        rows = self.rows[used]
        ratio = float(sums.sum() / rows.sum())
        if self.reference is None:
            return ratio
        reference = self.reference[used]
        b, _, _ = regression_fit(sums, rows, reference)
        # b L_C + (R - b R_C): at the reference itself (b = 1, R = R_C) exactly L_C
        return b * self.reference_mean + (ratio - b * float(reference.sum() / rows.sum()))

    def _gather(
        self, batch: BatchValues, indices: Sequence[int], *, with_correct: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Summed losses (float64) and correct counts of ``indices``: one host sync for all."""
        sums = torch.empty(len(indices), dtype=torch.float64, device=self.device)
        correct = torch.zeros(len(indices), dtype=torch.int64, device=self.device)
        for j, index in enumerate(indices):
            loss, right = batch(index)
            sums[j] = loss
            if with_correct and right is not None:
                correct[j] = right
        return sums.cpu().numpy(), correct.cpu().numpy()


def _in_order_sum(values: np.ndarray) -> float:
    """``((v_0 + v_1) + v_2) + ...`` in float64, as the full-data evaluators accumulate."""
    total = 0.0
    for v in values.tolist():
        total += v
    return total


class AdaptivePointEvaluator(PointEvaluator):
    """:class:`PointEvaluator` that evaluates each point to a tolerance on its mean loss.

    The reference point of the estimator is the origin (coordinates 0), evaluated on every
    batch once, on the first call; a point at the origin gets those full-data values.

    Args:
        objective: Loss, data and model.
        origin: The reference point.
        directions: One or two directions.
        tolerance: The largest 95% half-width of a point's mean loss.
        seed: Seed of the batch order (one order for every point).
        bn: BatchNorm mode (see :class:`PointEvaluator`).
        bn_samples: Rows that re-estimate BatchNorm statistics.
        bn_data: Data that re-estimates BatchNorm statistics (see :class:`PointEvaluator`).
        buffer_directions: Buffer directions (see :class:`PointEvaluator`).
    """

    def __init__(
        self,
        objective: Objective,
        origin: ParamDict,
        directions: Sequence[ParamDict],
        *,
        tolerance: float,
        seed: int = 0,
        bn: BNMode = "eval",
        bn_samples: int = 1000,
        bn_data: Split | None = None,
        buffer_directions: Sequence[ParamDict] | None = None,
    ):
        super().__init__(
            objective,
            origin,
            directions,
            bn=bn,
            bn_samples=bn_samples,
            bn_data=bn_data,
            buffer_directions=buffer_directions,
        )
        self.tolerance = tolerance
        self._ndim = len(directions)
        self._batches = list(objective.batches())
        self.sampler = SequentialMean.over(self._batches, objective, tolerance=tolerance, seed=seed)

    @property
    def order(self) -> list[int]:
        """The batch order every point follows."""
        return self.sampler.order

    @torch.inference_mode()
    def evaluate(self, coords: np.ndarray) -> AdaptiveValues:
        """Evaluate every point of ``coords`` (shape ``(P, ndim)``) to the tolerance."""
        accuracy = self.objective.has_accuracy
        if self.sampler.reference_values is None:
            self.set_point(np.zeros(self._ndim))
            self.sampler.set_reference(self._batch, with_correct=accuracy)
        points = []
        for point in coords:
            if not np.any(point):  # the origin: its full-data values are known
                points.append(self.sampler.reference_values)
                continue
            self.set_point(point)
            points.append(self.sampler.estimate(self._batch, with_correct=accuracy))
        return AdaptiveValues(
            *(np.array([getattr(p, f) for p in points], np.float64) for f in _FIELDS)
        )

    def __call__(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(loss, acc)`` arrays, as :class:`PointEvaluator` returns them."""
        values = self.evaluate(coords)
        return values.loss, values.acc

    def _batch(self, index: int) -> tuple[Tensor, Tensor | None]:
        obj = self.objective
        x, y = self._batches[index]
        out = obj.call(self.model, x)
        return obj.loss_sum(out, y), obj.num_correct(out, y) if obj.has_accuracy else None


_FIELDS = ("loss", "acc", "loss_se", "acc_se", "rows")


class AdaptiveObjective:
    """An objective's loss at any parameters to a tolerance: the rule of the module.

    What :meth:`Objective.evaluate` computes on all the data, on the batches a point needs
    (through the same ``functional_call``, so a point that needs every batch gets the same
    values). The reference point is evaluated on every batch when the object is made, and a
    point equal to it gets those full-data values.

    Args:
        objective: Loss, data and model.
        reference: Parameters and buffers of the reference point (e.g. a path's start).
        tolerance: The largest 95% half-width of a point's mean loss.
        seed: Seed of the batch order.
    """

    def __init__(
        self,
        objective: Objective,
        reference: tuple[ParamDict, ParamDict],
        *,
        tolerance: float,
        seed: int = 0,
    ):
        self.objective = objective
        self._batches = list(objective.batches())
        self.sampler = SequentialMean.over(self._batches, objective, tolerance=tolerance, seed=seed)
        self._reference = reference
        with torch.inference_mode():
            self.sampler.set_reference(
                self._batch_at(*reference), with_correct=objective.has_accuracy
            )

    @torch.inference_mode()
    def evaluate(self, params: ParamDict, buffers: ParamDict | None = None) -> PointValues:
        """The values at ``params`` (with ``buffers``, default the objective's).

        At the reference point itself (equal tensors) its full-data values.
        """
        ref_params, ref_buffers = self._reference
        if _equal(params, ref_params) and _equal(buffers or self.objective.buffers, ref_buffers):
            assert self.sampler.reference_values is not None
            return self.sampler.reference_values
        return self.sampler.estimate(
            self._batch_at(params, buffers), with_correct=self.objective.has_accuracy
        )

    def _batch_at(self, params: ParamDict, buffers: ParamDict | None) -> BatchValues:
        obj = self.objective

        def batch(index: int) -> tuple[Tensor, Tensor | None]:
            x, y = self._batches[index]
            out = obj.forward(params, x, buffers)
            return obj.loss_sum(out, y), obj.num_correct(out, y) if obj.has_accuracy else None

        return batch


def _equal(a: ParamDict, b: ParamDict) -> bool:
    """Whether two parameter dictionaries hold the same names and equal tensors."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
