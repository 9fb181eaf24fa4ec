"""Losses to a stated tolerance: each point on a prefix of one random row order.

A surface figure needs every point's loss to a tolerance, not to the last row of the split.
The split's rows are visited in one fixed random order (the same at every point, so
neighbouring points share their samples and the surface keeps its shape); a point uses the
first ``n`` rows of that order, with ``n`` chosen so that the 95% confidence half-width of its
mean loss is at most the tolerance (or ``n = N``, every row).

**Units.** The sampling units are rows (:mod:`landscape.adaptive_units`: each row's loss from
the built-in cross-entropy or through ``torch.func.vmap`` over the summed loss; a sequence of
a per-token task is one unit weighted by its counted tokens), a simple random sample without
replacement. Where a user's loss gives no per-row values the units are the split's batches in
a random order (a cluster sample), with the same formulas.

**Estimator.** With ``S_i`` a unit's summed loss, ``m_i`` its rows or counted tokens and
``C_ij`` the summed loss of *reference point* ``j`` on it (the origin and the grid's two ends
along each axis, :func:`axis_anchors`; a path's start for ``connect``), each known on every
unit from one full pass, the mean loss per row is the regression estimator with several
auxiliary variables (Cochran 1977, *Sampling Techniques*, chapters 6 and 7; ``b`` fitted on the
pilot is a preassigned slope for the rest of the sample, section 7.2)

    L = R + sum_j b_j (L_Cj - R_Cj),    R = sum S_i / sum m_i,   R_Cj = sum C_ij / sum m_i,

over the ``n`` units used, with ``L_Cj`` reference ``j``'s population mean and ``b`` the least
squares slopes, fitted on the pilot, of ``u_i = S_i - R m_i`` on ``v_ij = C_ij - R_Cj m_i``.
A point between the references ranks the rows as they do (hard rows are hard at all), so the
residual ``e_i = u_i - sum_j b_j v_ij`` is far smaller than ``u_i``. Its variance, with the
finite-population correction, is

    SE(L)^2 = (1 - n/N) s^2 / n,    s^2 = sum e_i^2 / ((n0 - 1 - q) mbar^2),

with ``N`` the split's units, ``q`` the reference points and ``mbar`` the mean unit size.

**Stopping rule** (Stein 1945, "A two-sample test for a linear hypothesis whose power is
independent of the variance", *Ann. Math. Statist.* 16, two-stage procedure). ``s^2`` is
estimated once, on a pilot of the first ``n0`` units (``df = n0 - 1 - q``; ``n0 =``
:data:`~landscape.adaptive_units.PILOT_ROWS` rows, or
:data:`~landscape.adaptive_units.PILOT_BATCHES` batches), and the point then uses

    n = max(n0, ceil(t^2 s^2 / (TOL^2 + t^2 s^2 / N)), ceil(25 g1^2)),    t = t_{0.975, df},

the fewest units whose half-width ``t sqrt((1 - n/N) s^2 / n)`` is at most ``TOL``. Because the
count depends on the pilot's variance only, the interval keeps its 95% coverage. ``25 g1^2``
is Cochran's rule (1977, section 2.15) for the normal interval of a skewed mean, with ``g1``
the skewness of the pilot's residuals; the pilot itself is at least ``25 G1^2`` units with
``G1`` the first reference point's skewness over the population (a trained network's
cross-entropy, near 0 on most rows, is skewed enough that a small split is used whole).

**Stored standard error.** ``loss_se`` is the half-width divided by ``z_{0.975} = 1.96``, so
that ``1.96 loss_se`` (about two of them) is the point's 95% interval whatever its degrees of
freedom. Accuracy carries its binomial standard error ``sqrt(p (1 - p) / n) sqrt(1 - n / N)``
over the ``n`` rows used of ``N``.

**Full data.** A point that needs every unit is evaluated by the non-adaptive path itself
(the split's own batches, in order), so its values equal the full-data evaluation exactly,
with standard errors 0; so are the reference points'.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from landscape.adaptive_stats import AdaptiveValues, PointValues, UnitSample
from landscape.adaptive_units import Call, unit_source
from landscape.data import Inputs, Split
from landscape.errors import LandscapeError
from landscape.evaluators import BNMode, FlatWeights, PointEvaluator
from landscape.objective import Objective
from landscape.params import ParamDict


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


RULE = 2
"""The version of the sampling units, estimator and stopping rule above, stored beside the
tolerance. A file made under another rule is not resumed (its points would mix two
estimators): 1 was whole batches, a 10-batch pilot and one reference point; 2 is rows, the
1000-row pilot, the multiple regression on the axis ends and the skewness rule."""


def tolerance_config(tolerance: float | None) -> dict[str, float | int]:
    """What a file's config records of an adaptive evaluation: the tolerance and :data:`RULE`.

    Empty without a tolerance, so that a plain evaluation's file stays as it was.

    >>> tolerance_config(0.02), tolerance_config(None)
    ({'tolerance': 0.02, 'tolerance_rule': 2}, {})
    """
    return {} if tolerance is None else {"tolerance": float(tolerance), "tolerance_rule": RULE}


def axis_anchors(coords: np.ndarray) -> np.ndarray:
    """A grid's reference points besides the origin: its two ends along each axis.

    For each axis, the grid points nearest to that axis (the other coordinates' absolute sum
    least) at its smallest and largest coordinate; without the origin and repeats.

    >>> axis_anchors(np.array([[x, y] for y in (-1, 0, 1) for x in (-1, 0, 1)])).tolist()
    [[-1, 0], [1, 0], [0, -1], [0, 1]]
    >>> axis_anchors(np.array([[0.0], [0.5], [1.0]])).tolist()
    [[1.0]]
    """
    coords = np.asarray(coords)
    chosen: list[np.ndarray] = []
    for axis in range(coords.shape[1]):
        off = np.abs(np.delete(coords, axis, axis=1)).sum(axis=1)
        line = coords[off == off.min()]
        for end in (line[:, axis].argmin(), line[:, axis].argmax()):
            point = line[end]
            if np.any(point) and not any(np.array_equal(point, c) for c in chosen):
                chosen.append(point)
    return np.array(chosen).reshape(len(chosen), coords.shape[1])


class AdaptivePointEvaluator(PointEvaluator):
    """:class:`PointEvaluator` that evaluates each point to a tolerance on its mean loss.

    The reference points of the estimator are the origin (coordinates 0) and ``anchors``,
    each evaluated on all the data once, on the first call; a point equal to one of them gets
    its full-data values.

    Args:
        objective: Loss, data and model.
        origin: The origin of the coordinates.
        directions: One or two directions.
        tolerance: The largest 95% half-width of a point's mean loss.
        seed: Seed of the row (or batch) order (one order for every point).
        anchors: Further reference points, shape ``(A, ndim)`` (e.g. :func:`axis_anchors`
            of the grid); ``None``: the origin alone.
        bn: BatchNorm mode (see :class:`PointEvaluator`).
        bn_samples: Rows that re-estimate BatchNorm statistics.
        bn_data: Data that re-estimates BatchNorm statistics (see :class:`PointEvaluator`).
        buffer_directions: Buffer directions (see :class:`PointEvaluator`).
        weights: Flat point buffers shared with other splits' evaluators (see
            :class:`PointEvaluator`).
    """

    def __init__(
        self,
        objective: Objective,
        origin: ParamDict,
        directions: Sequence[ParamDict],
        *,
        tolerance: float,
        seed: int = 0,
        anchors: np.ndarray | None = None,
        bn: BNMode = "eval",
        bn_samples: int = 1000,
        bn_data: Split | None = None,
        buffer_directions: Sequence[ParamDict] | None = None,
        weights: FlatWeights | None = None,
    ):
        check_tolerance(tolerance)
        super().__init__(
            objective,
            origin,
            directions,
            bn=bn,
            bn_samples=bn_samples,
            bn_data=bn_data,
            buffer_directions=buffer_directions,
            weights=weights,
        )
        self.tolerance = tolerance
        ndim = len(directions)
        extra = np.zeros((0, ndim)) if anchors is None else np.asarray(anchors, np.float64)
        self.anchors = np.vstack([np.zeros((1, ndim)), extra[np.any(extra, axis=1)]])
        self.units = unit_source(objective, seed)
        self.sampler = UnitSample(
            self.units.sizes, tolerance=tolerance, pilot=self.units.pilot(len(self.anchors))
        )
        self._known: dict[tuple[float, ...], PointValues] = {}

    @property
    def order(self) -> list[int]:
        """The row (or batch) order every point follows."""
        return self.units.order.tolist()

    @torch.inference_mode()
    def evaluate(self, coords: np.ndarray) -> AdaptiveValues:
        """Evaluate every point of ``coords`` (shape ``(P, ndim)``) to the tolerance."""
        accuracy = self.objective.has_accuracy
        if not self._known:
            for anchor in self.anchors:
                self.set_point(anchor)
                sums, loss, acc = self.units.reference(self._call)
                self.sampler.add_reference(sums)
                self._known[tuple(anchor.tolist())] = _exact(self.objective, loss, acc)
        points = []
        for point in coords:
            known = self._known.get(tuple(np.asarray(point, np.float64).tolist()))
            if known is not None:  # a reference point: its full-data values are known
                points.append(known)
                continue
            self.set_point(point)
            points.append(
                self.sampler.estimate(
                    lambda start, stop: self.units.sample(self._call, start, stop),
                    functools.partial(self._full_data, point),
                    with_correct=accuracy,
                )
            )
        return AdaptiveValues(
            *(np.array([getattr(p, f) for p in points], np.float64) for f in _FIELDS)
        )

    def __call__(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(loss, acc)`` arrays, as :class:`PointEvaluator` returns them."""
        values = self.evaluate(coords)
        return values.loss, values.acc

    def _full_data(self, point: np.ndarray) -> PointValues:
        """The point's values on all the data, by the non-adaptive path itself."""
        loss, acc = PointEvaluator.__call__(self, np.asarray(point)[None])
        return _exact(self.objective, float(loss[0]), float(acc[0]))

    def _call(self, x: Inputs) -> Tensor:
        return self.objective.call(self.model, x)


_FIELDS = ("loss", "acc", "loss_se", "acc_se", "rows")


def _exact(objective: Objective, loss: float, acc: float) -> PointValues:
    """Full-data values: standard errors 0 (NaN for an accuracy not computed)."""
    acc_se = 0.0 if objective.has_accuracy else math.nan
    return PointValues(loss, acc, 0.0, acc_se, objective.num_samples)


class AdaptiveObjective:
    """An objective's loss at any parameters to a tolerance: the rule of the module.

    What :meth:`Objective.evaluate` computes on all the data, on the rows a point needs
    (through the same ``functional_call``; a point that needs every row gets
    :meth:`Objective.evaluate` itself). The reference point is evaluated on all the data when
    the object is made, and a point equal to it gets those full-data values.

    Args:
        objective: Loss, data and model.
        reference: Parameters and buffers of the reference point (e.g. a path's start).
        tolerance: The largest 95% half-width of a point's mean loss.
        seed: Seed of the row (or batch) order.
    """

    def __init__(
        self,
        objective: Objective,
        reference: tuple[ParamDict, ParamDict],
        *,
        tolerance: float,
        seed: int = 0,
    ):
        check_tolerance(tolerance)
        self.objective = objective
        self.units = unit_source(objective, seed)
        self.sampler = UnitSample(self.units.sizes, tolerance=tolerance, pilot=self.units.pilot(1))
        self._reference = reference
        with torch.inference_mode():
            sums, loss, acc = self.units.reference(self._call_at(*reference))
        self.sampler.add_reference(sums)
        self.reference_values = _exact(objective, loss, acc)

    @torch.inference_mode()
    def evaluate(self, params: ParamDict, buffers: ParamDict | None = None) -> PointValues:
        """The values at ``params`` (with ``buffers``, default the objective's).

        At the reference point itself (equal tensors) its full-data values.
        """
        ref_params, ref_buffers = self._reference
        if _equal(params, ref_params) and _equal(buffers or self.objective.buffers, ref_buffers):
            return self.reference_values
        call = self._call_at(params, buffers)
        return self.sampler.estimate(
            lambda start, stop: self.units.sample(call, start, stop),
            lambda: _exact(self.objective, *self.objective.evaluate(params, buffers)),
            with_correct=self.objective.has_accuracy,
        )

    def _call_at(self, params: ParamDict, buffers: ParamDict | None) -> Call:
        return lambda x: self.objective.forward(params, x, buffers)


def _equal(a: ParamDict, b: ParamDict) -> bool:
    """Whether two parameter dictionaries hold the same names and equal tensors."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
