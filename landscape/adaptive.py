"""Surfaces to a stated tolerance: each point on growing prefixes of one random batch order.

A surface figure needs every point's loss to a tolerance, not to the last row of the split.
:class:`AdaptivePointEvaluator` evaluates a point on the split's batches in one fixed random
order (the same at every point, so neighbouring points share their samples and the surface
keeps its shape) and stops once the 95% confidence half-width of the point's mean loss is at
most the tolerance, or the batches run out.

The batches are a cluster sample of the split, drawn without replacement, and the mean loss
per row is the ratio estimator ``R = sum_i S_i / sum_i m_i`` over the k batches seen, with
``S_i`` a batch's summed loss and ``m_i`` its rows. Its standard error (Cochran 1977,
*Sampling Techniques*, section 6.3, with the finite-population correction of cluster
sampling) is

    SE(R)^2 = (1 - k/K) / (k (k - 1) mbar^2) * sum_i (S_i - R m_i)^2,

with K the split's batches and ``mbar`` the mean batch size seen; it is zero once every
batch has been seen. The half-width is ``t_{0.975, k-1} SE(R)``. Accuracy carries its
binomial standard error ``sqrt(p (1 - p) / n) sqrt(1 - n / N)`` over the n rows seen of N.

Once every batch has been evaluated, the point's sums are formed in the split's own batch
order, so the values equal the full-data evaluation of :class:`PointEvaluator` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats as sps

from landscape.data import Split
from landscape.errors import LandscapeError
from landscape.evaluators import BNMode, PointEvaluator
from landscape.objective import Objective, counted_tokens
from landscape.params import ParamDict

MIN_BATCHES = 5
"""The fewest batches a point stops at (unless the split has fewer).

Two batches would give a standard error, but one with a single degree of freedom: two
batches that agree by chance then stop a point far from its full-data value. Five keep
the estimate of the spread itself from being that noisy.
"""


def ratio_standard_error(sums: np.ndarray, rows: np.ndarray, total_batches: int) -> float:
    """Standard error of ``sum(sums) / sum(rows)`` for a cluster sample without replacement.

    Args:
        sums: Each sampled batch's summed loss ``S_i``.
        rows: Each sampled batch's row count ``m_i``.
        total_batches: The number of batches K in the whole split.

    Returns:
        ``SE(R)`` of the module formula; NaN for fewer than two batches (unless they are all
        of the split, when it is 0).

    >>> ratio_standard_error(np.array([2.0, 4.0]), np.array([2, 2]), 2)
    0.0
    >>> round(ratio_standard_error(np.array([2.0, 4.0]), np.array([2, 2]), 4), 6)
    0.353553
    """
    k = sums.size
    if k >= total_batches:
        return 0.0
    if k < 2:
        return math.nan
    ratio = sums.sum() / rows.sum()
    mbar = rows.mean()
    spread = float(((sums - ratio * rows) ** 2).sum())
    return math.sqrt((1.0 - k / total_batches) * spread / (k * (k - 1) * mbar**2))


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


def half_width(se: float, batches: int) -> float:
    """The 95% Student-t half-width ``t_{0.975, k-1} SE`` over ``k`` batches."""
    if batches < 2 or not math.isfinite(se):
        return math.inf
    return float(sps.t.ppf(0.975, batches - 1)) * se


def check_tolerance(tolerance: float | None, points_per_pass: int | None) -> None:
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
class AdaptiveValues:
    """Per-point values of an adaptive evaluation.

    Attributes:
        loss: Mean loss per row over the rows used.
        acc: Accuracy over the rows used (NaN without accuracy).
        loss_se: Standard error of ``loss`` (0 at full data).
        acc_se: Binomial standard error of ``acc``.
        rows: Rows used per point.
    """

    loss: np.ndarray
    acc: np.ndarray
    loss_se: np.ndarray
    acc_se: np.ndarray
    rows: np.ndarray


class AdaptivePointEvaluator(PointEvaluator):
    """:class:`PointEvaluator` that stops each point at a tolerance on its mean loss.

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
        self._batches = list(objective.batches())
        generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(len(self._batches), generator=generator).tolist()
        self._rows = np.array([self._units(y) for _, y in self._batches], dtype=np.float64)

    def _units(self, y: torch.Tensor) -> int:
        """What a batch's mean is over: its rows, or its counted tokens for a token task."""
        score = getattr(self.objective, "_token_score", None)
        return len(y) if score is None else counted_tokens(y, shift=score["shift"])

    @torch.inference_mode()
    def evaluate(self, coords: np.ndarray) -> AdaptiveValues:
        """Evaluate every point of ``coords`` (shape ``(P, ndim)``) to the tolerance."""
        n = len(coords)
        out = {name: np.empty(n) for name in ("loss", "acc", "loss_se", "acc_se", "rows")}
        for i, point in enumerate(coords):
            self.set_point(point)
            values = self._point()
            for name, value in zip(out, values, strict=True):
                out[name][i] = value
        return AdaptiveValues(**out)

    def __call__(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(loss, acc)`` arrays, as :class:`PointEvaluator` returns them."""
        values = self.evaluate(coords)
        return values.loss, values.acc

    def _point(self) -> tuple[float, float, float, float, int]:
        obj = self.objective
        total = len(self._batches)
        sums = torch.full((total,), math.nan, dtype=torch.float64)
        correct = torch.zeros(total, dtype=torch.int64)
        seen: list[int] = []
        for index in self.order:
            x, y = self._batches[index]
            output = obj.call(self.model, x)
            sums[index] = obj.loss_sum(output, y).double().cpu()
            if obj.has_accuracy:
                correct[index] = obj.num_correct(output, y).cpu()
            seen.append(index)
            if len(seen) >= MIN_BATCHES or len(seen) == total:
                rows = self._rows[seen]
                se = ratio_standard_error(sums[seen].numpy(), rows, total)
                if half_width(se, len(seen)) <= self.tolerance or len(seen) == total:
                    break
        used = sorted(seen)  # the split's own batch order: full data equals PointEvaluator
        loss_sum = torch.zeros((), dtype=torch.float64)
        for index in used:
            loss_sum += sums[index]
        rows_used = int(self._rows[used].sum())
        loss = float(loss_sum) / rows_used
        if obj.has_accuracy:
            acc = float(correct[used].sum()) / rows_used
            acc_se = binomial_standard_error(acc, rows_used, obj.num_samples)
        else:
            acc, acc_se = math.nan, math.nan
        return loss, acc, se, acc_se, rows_used
