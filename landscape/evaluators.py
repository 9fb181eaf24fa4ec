"""Evaluate the loss (and accuracy) at many points ``origin + a d0 + b d1``.

Two strategies, chosen per device by measurement (see
:func:`landscape.engine.compute_surface`):

* :class:`PointEvaluator`, one point per pass: writes the point's weights into
  a private copy of the model with fused ``torch.add(..., out=)`` and calls the
  module directly, so the per-point overhead over a plain forward pass is a
  handful of tensor adds (no ``functional_call``, no ``.item()`` per batch).
* :class:`StackedEvaluator`, several points per pass: ``torch.func.vmap`` over
  stacked weights through ``functional_call``, which pays off on GPUs.

Both accumulate in float64 on the device and synchronize once per point (or
chunk).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from landscape.objective import Objective, correct_count
from landscape.params import ParamDict

BNMode = Literal["eval", "recompute"]


class PointEvaluator:
    """One point per forward pass, weights written into a private model copy.

    Args:
        objective: loss, data and the model (its private copy is copied again).
        origin: the reference point.
        directions: one or two directions.
        bn: ``eval`` keeps the checkpoint's BatchNorm statistics; ``recompute``
            re-estimates them at every point on ``bn_samples`` fixed rows of the
            split (cumulative average, as in mode-connectivity studies), on a
            copy of the buffers.
        bn_samples: rows used to re-estimate BatchNorm statistics.

    """

    def __init__(
        self,
        objective: Objective,
        origin: ParamDict,
        directions: Sequence[ParamDict],
        *,
        bn: BNMode = "eval",
        bn_samples: int = 1000,
    ):
        self.objective = objective
        self.model = copy.deepcopy(objective.model).eval()
        self.params = dict(self.model.named_parameters())
        for name, buf in self.model.named_buffers():
            if name in objective.buffers:
                buf.copy_(objective.buffers[name])
        dev = objective.device
        self.origin = {k: origin[k].to(dev) for k in self.params}
        self.directions = [{k: d[k].to(dev) for k in self.params} for d in directions]
        self.bn = bn
        self.bn_modules = [
            m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
        for m in self.bn_modules:
            m.momentum = None
        self.bn_x = objective.split.x[:bn_samples]

    @torch.inference_mode()
    def __call__(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(loss, acc)`` arrays for ``coords`` of shape ``(P, ndim)``."""
        losses = torch.empty(len(coords), dtype=torch.float64, device=self.objective.device)
        accs = torch.empty_like(losses)
        for i, point in enumerate(coords):
            self._set_weights(point)
            if self.bn == "recompute" and self.bn_modules:
                self._recompute_bn()
            losses[i], accs[i] = self._loss_acc()
        return losses.cpu().numpy(), accs.cpu().numpy()

    def _set_weights(self, point: np.ndarray) -> None:
        for k, p in self.params.items():
            torch.add(self.origin[k], self.directions[0][k], alpha=float(point[0]), out=p)
            for c, d in zip(point[1:], self.directions[1:], strict=True):
                p.add_(d[k], alpha=float(c))

    def _recompute_bn(self) -> None:
        for m in self.bn_modules:
            m.reset_running_stats()
        self.model.train()
        for i in range(0, len(self.bn_x), self.objective.batch_size):
            self.model(self.bn_x[i : i + self.objective.batch_size])
        self.model.eval()

    def _loss_acc(self) -> tuple[Tensor, Tensor]:
        obj = self.objective
        loss = torch.zeros((), dtype=torch.float64, device=obj.device)
        correct = torch.zeros((), dtype=torch.int64, device=obj.device)
        for x, y in obj.batches():
            out = self.model(x)
            loss += obj.loss_sum(out, y)
            if obj.has_accuracy:
                correct += correct_count(out, y)
        acc = correct.double() / obj.num_samples if obj.has_accuracy else torch.tensor(float("nan"))
        return loss / obj.num_samples, acc


class StackedEvaluator:
    """Several points per forward pass: ``vmap`` over stacked weights.

    The stacked weights ``origin + A d0 (+ B d1)`` are built with one
    broadcasted multiply-add per parameter, then a single vmapped
    ``functional_call`` evaluates all points on each data batch.
    """

    def __init__(self, objective: Objective, origin: ParamDict, directions: Sequence[ParamDict]):
        self.objective = objective
        dev = objective.device
        names = [n for n, _ in objective.model.named_parameters()]
        self.origin = {k: origin[k].to(dev) for k in names}
        self.directions = [{k: d[k].to(dev) for k in names} for d in directions]
        model, buffers, loss_sum = objective.model, objective.buffers, objective.loss_sum
        with_acc = objective.has_accuracy

        def one_point(params: ParamDict, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
            out = functional_call(model, (params, buffers), (x,))
            loss = loss_sum(out, y)
            return loss, correct_count(out, y) if with_acc else loss

        self._batched = vmap(one_point, in_dims=(0, None, None))

    @torch.inference_mode()
    def __call__(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(loss, acc)`` arrays for ``coords`` of shape ``(P, ndim)``."""
        obj = self.objective
        c = torch.as_tensor(coords, dtype=next(iter(self.origin.values())).dtype, device=obj.device)
        stacked = {}
        for k, o in self.origin.items():
            shape = (len(coords),) + (1,) * o.dim()
            w = o.unsqueeze(0) + c[:, 0].reshape(shape) * self.directions[0][k].unsqueeze(0)
            for j, d in enumerate(self.directions[1:], start=1):
                w = w + c[:, j].reshape(shape) * d[k].unsqueeze(0)
            stacked[k] = w
        loss = torch.zeros(len(coords), dtype=torch.float64, device=obj.device)
        correct = torch.zeros(len(coords), dtype=torch.float64, device=obj.device)
        for x, y in obj.batches():
            batch_loss, batch_correct = self._batched(stacked, x, y)
            loss += batch_loss
            correct += batch_correct
        acc = correct / obj.num_samples if obj.has_accuracy else torch.full_like(loss, float("nan"))
        return (loss / obj.num_samples).cpu().numpy(), acc.cpu().numpy()
