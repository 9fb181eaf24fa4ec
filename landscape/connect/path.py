"""Points on a path between two checkpoints and the loss along it.

Every path here lies in the plane through ``A`` spanned by ``C - A`` and ``B - A``, where
``C`` is a curve's control point, so a point is ``theta = A + a (C - A) + b (B - A)`` with
coefficients ``(a, b)`` from :func:`path_coefficients`:

* ``linear``:   ``theta(t) = (1 - t) A + t B``                      -> ``(0, t)``;
* ``bezier``:   ``theta(t) = (1 - t)^2 A + 2 t (1 - t) C + t^2 B``   -> ``(2 t (1 - t), t^2)``
  (quadratic Bezier curve, Garipov et al. 2018);
* ``polychain``: ``A -> C`` for ``t <= 1/2``, ``C -> B`` after        -> ``(2t, 0)`` or
  ``(2 - 2t, 2t - 1)`` (one-bend polygonal chain, Garipov et al. 2018).

BatchNorm statistics (floating buffers) move with the weights by the same coefficients
(``interp``, as along ``--dirs interp``), or are re-estimated at every point from fixed rows of
the train split (``recompute``, cumulative average as in mode-connectivity studies); integer
buffers (``num_batches_tracked``) are ``A``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from landscape.adaptive import AdaptiveObjective
from landscape.objective import Objective
from landscape.params import ParamDict, dot, norm

PathKind = Literal["linear", "bezier", "polychain"]
CurveKind = Literal["bezier", "polychain"]
BNPathMode = Literal["interp", "recompute"]
PATH_KINDS = ("linear", "bezier", "polychain")


def path_coefficients(kind: PathKind, t: float | Tensor) -> tuple[float | Tensor, float | Tensor]:
    """Coefficients ``(a, b)`` of ``theta(t) = A + a (C - A) + b (B - A)`` on a path.

    Works on floats and on tensors of ``t`` (differentiably).

    >>> path_coefficients("bezier", 0.5)
    (0.5, 0.25)
    >>> path_coefficients("polychain", 0.75)
    (0.5, 0.5)
    """
    if kind == "linear":
        return 0.0 * t, t
    if kind == "bezier":
        return 2.0 * t * (1.0 - t), t * t
    if kind == "polychain":
        if isinstance(t, Tensor):
            first = t <= 0.5
            return torch.where(first, 2.0 * t, 2.0 - 2.0 * t), torch.where(
                first, 0.0 * t, 2.0 * t - 1.0
            )
        return (2.0 * t, 0.0) if t <= 0.5 else (2.0 - 2.0 * t, 2.0 * t - 1.0)
    raise ValueError(f"path kind: expected one of {PATH_KINDS} (got {kind!r})")


def plane_point(
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    c: Mapping[str, Tensor] | None,
    coef: tuple[float | Tensor, float | Tensor],
) -> ParamDict:
    """``A + coef[0] (C - A) + coef[1] (B - A)`` for every floating tensor; others are ``A``'s.

    ``c`` may be ``None`` when ``coef[0]`` is 0 (the straight line).

    >>> plane_point({"w": torch.zeros(1)}, {"w": torch.ones(1)}, None, (0.0, 0.25))["w"].tolist()
    [0.25]
    """
    out: ParamDict = {}
    for k, va in a.items():
        if not va.is_floating_point():
            out[k] = va.clone()
            continue
        point = va + coef[1] * (b[k] - va)
        if c is not None:
            point = point + coef[0] * (c[k] - va)
        out[k] = point
    return out


def midpoint(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> ParamDict:
    """``(A + B) / 2`` for floating tensors (a curve's initial control point); others ``A``'s.

    >>> midpoint({"w": torch.zeros(1)}, {"w": torch.ones(1)})["w"].tolist()
    [0.5]
    """
    return plane_point(a, b, None, (0.0, 0.5))


def batchnorm_modules(model: nn.Module) -> dict[str, nn.modules.batchnorm._BatchNorm]:
    """The model's BatchNorm layers that keep running statistics, by module name."""
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    }


@torch.inference_mode()
def recompute_batchnorm(
    objective: Objective, params: ParamDict, buffers: ParamDict, x: Tensor
) -> ParamDict:
    """BatchNorm statistics of ``params`` re-estimated on the rows ``x``.

    Running statistics are reset and accumulated as a cumulative average
    (``momentum=None``) over ``x`` in batches of the objective's batch size, on copies of
    ``buffers``; the objective's model is left in eval mode with its momenta restored.

    Returns:
        New buffers (``buffers`` itself is not changed).

    """
    stats = {k: v.clone() for k, v in buffers.items()}
    layers = batchnorm_modules(objective.model)
    if not layers:
        return stats
    for name in layers:
        prefix = f"{name}." if name else ""
        stats[f"{prefix}running_mean"].zero_()
        stats[f"{prefix}running_var"].fill_(1.0)
        stats[f"{prefix}num_batches_tracked"].zero_()
    momenta = {name: m.momentum for name, m in layers.items()}
    try:
        for m in layers.values():
            m.momentum = None
            m.train()
        for i in range(0, len(x), objective.batch_size):
            functional_call(objective.model, (params, stats), (x[i : i + objective.batch_size],))
    finally:
        for name, m in layers.items():
            m.momentum = momenta[name]
            m.eval()
    return stats


def evaluate_point(
    objectives: Mapping[str, Objective],
    params: ParamDict,
    buffers: ParamDict,
    *,
    bn: BNPathMode,
    bn_rows: Tensor | None,
    adaptive: Mapping[str, AdaptiveObjective] | None = None,
) -> dict[str, float]:
    """Loss (and accuracy) of one point on every split: ``{"train_loss": ..., ...}``.

    Args:
        objectives: split name -> objective.
        params: the point's parameters.
        buffers: its buffers (interpolated along the path).
        bn: ``interp`` uses ``buffers``; ``recompute`` re-estimates BatchNorm statistics on
            ``bn_rows`` first (:func:`recompute_batchnorm`).
        bn_rows: the rows for ``recompute``.
        adaptive: split name -> its evaluator to a tolerance (``--tolerance``); the values
            then also hold ``train_loss_se``, ``train_acc_se`` and ``train_rows``, ...

    """
    first = next(iter(objectives.values()))
    if bn == "recompute" and bn_rows is not None:
        buffers = recompute_batchnorm(first, params, buffers, bn_rows)
    out: dict[str, float] = {}
    for split, obj in objectives.items():
        if adaptive is None:
            loss, acc = obj.evaluate(params, buffers)
        else:
            values = adaptive[split].evaluate(params, buffers)
            loss, acc = values.loss, values.acc
            out[f"{split}_loss_se"], out[f"{split}_rows"] = values.loss_se, values.rows
            if obj.has_accuracy:
                out[f"{split}_acc_se"] = values.acc_se
        out[f"{split}_loss"] = loss if np.isfinite(loss) else float("nan")
        if obj.has_accuracy:
            out[f"{split}_acc"] = acc
    return out


@dataclass(frozen=True)
class PlaneFrame:
    """Orthonormal coordinates in the plane through A, B and C.

    With ``u = C - A`` and ``v = B - A``, ``e1 = v / |v|`` and ``e2`` is ``u``'s part orthogonal
    to ``v``, normalized; ``A + a u + b v`` lies at ``x = a u_x + b |v|``, ``y = a u_y`` with
    ``u_x = <u, v> / |v|`` and ``u_y = sqrt(|u|^2 - u_x^2)`` (Garipov et al. 2018, Fig. 1).

    Attributes:
        ux: ``<u, v> / |v|``.
        uy: ``u``'s length orthogonal to ``v``.
        v_norm: ``|v|``.

    Example:
        >>> f = plane_frame({"w": torch.zeros(2)}, {"w": torch.tensor([2.0, 0])},
        ...                 {"w": torch.tensor([1.0, 1])})
        >>> f.coordinates(1.0, 0.0), f.coefficients(1.0, 1.0)
        ((1.0, 1.0), (1.0, 0.0))

    """

    ux: float
    uy: float
    v_norm: float

    def coordinates(self, a: float, b: float) -> tuple[float, float]:
        """``(x, y)`` of ``A + a u + b v``."""
        return a * self.ux + b * self.v_norm, a * self.uy

    def coefficients(self, x: float, y: float) -> tuple[float, float]:
        """``(a, b)`` of the point at ``(x, y)``."""
        a = y / self.uy
        return a, (x - a * self.ux) / self.v_norm


def plane_frame(
    a: Mapping[str, Tensor], b: Mapping[str, Tensor], c: Mapping[str, Tensor]
) -> PlaneFrame | None:
    """The :class:`PlaneFrame` of A, B and C, or ``None`` when they lie on one line."""
    u = {k: (c[k] - a[k]).double() for k in a if a[k].is_floating_point()}
    v = {k: (b[k] - a[k]).double() for k in u}
    v_norm = norm(v)
    if v_norm == 0:
        return None
    ux = dot(u, v) / v_norm
    uy2 = dot(u, u) - ux**2
    if uy2 <= 1e-12 * max(1.0, dot(u, u)):
        return None
    return PlaneFrame(ux, float(np.sqrt(uy2)), v_norm)
