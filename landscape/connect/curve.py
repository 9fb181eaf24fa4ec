"""Fit a curve of low loss between two solutions (Garipov et al. 2018).

The curve ``theta_C(t)`` (a quadratic Bezier curve or a one-bend polygonal chain, see
:mod:`landscape.connect.path`) runs from ``A`` to ``B`` through a control point ``C``, which
is trained to minimize the loss expected under a uniform ``t``,

    min_C  E_{t ~ U(0, 1)} L(theta_C(t)),

by SGD with momentum: each minibatch draws one ``t``, and only ``C`` moves ("Loss Surfaces,
Mode Connectivity, and Fast Ensembling of DNNs", Garipov et al. 2018). ``C`` starts at the
midpoint ``(A + B) / 2``. BatchNorm layers use batch statistics while fitting (the model's other
layers stay in eval mode, so nothing random happens); buffers along the curve move with the
weights.

Each epoch's minibatch order and ``t`` draws come from a generator seeded by ``(seed, epoch)``,
so a fit resumed from the state after any epoch equals an uninterrupted fit, bit for bit.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from landscape.connect.path import CurveKind, batchnorm_modules, path_coefficients, plane_point
from landscape.errors import LandscapeError
from landscape.io.connect import CurveState
from landscape.objective import Objective
from landscape.params import ParamDict


@dataclass(frozen=True)
class CurveSettings:
    """How the control point is trained.

    Attributes:
        kind: ``bezier`` or ``polychain``.
        epochs: passes over the train split.
        lr: SGD learning rate.
        momentum: SGD momentum (heavy ball, ``v <- m v + g``, ``C <- C - lr v``).
        batch_size: rows per step.
        seed: seed of the minibatch order and the ``t`` draws.

    """

    kind: CurveKind
    epochs: int = 10
    lr: float = 0.05
    momentum: float = 0.9
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("bezier", "polychain"):
            raise LandscapeError(f"curve: expected bezier or polychain (got {self.kind!r})")
        if self.epochs < 1 or self.batch_size < 1:
            raise LandscapeError(
                f"curve: expected positive epochs and batch size (got {self.epochs}, "
                f"{self.batch_size})"
            )
        if not self.lr > 0 or not 0 <= self.momentum < 1:
            raise LandscapeError(
                f"curve: expected lr > 0 and 0 <= momentum < 1 (got {self.lr}, {self.momentum})"
            )


def initial_state(a: ParamDict, b: ParamDict) -> CurveState:
    """The fit before its first epoch: ``C = (A + B) / 2``, zero momentum."""
    control = {k: ((a[k] + b[k]) / 2).detach().cpu().numpy() for k in a}
    return CurveState(control, {k: np.zeros_like(v) for k, v in control.items()}, 0, np.zeros(0))


class CurveFitter:
    """Train a curve's control point one epoch at a time.

    Args:
        objective: the train split's objective (its private model is copied, BatchNorm layers
            switched to batch statistics).
        a: parameters of ``A``.
        b: parameters of ``B``.
        buffers: ``(A's, B's, C's)`` buffers; the curve's buffers at ``t`` combine them with the
            weights' coefficients.
        settings: the fit's settings.

    """

    def __init__(
        self,
        objective: Objective,
        a: ParamDict,
        b: ParamDict,
        buffers: tuple[ParamDict, ParamDict, ParamDict],
        settings: CurveSettings,
    ):
        self.objective = objective
        self.model: nn.Module = copy.deepcopy(objective.model).eval()
        for m in batchnorm_modules(self.model).values():
            m.train()
        self.a, self.b = a, b
        self.buffers = buffers
        self.settings = settings

    def _step_loss(self, control: ParamDict, t: float, x: Tensor, y: Tensor) -> Tensor:
        coef = path_coefficients(self.settings.kind, t)
        params = plane_point(self.a, self.b, control, coef)
        buf_a, buf_b, buf_c = self.buffers
        buffers = plane_point(buf_a, buf_b, buf_c, coef)
        out = functional_call(self.model, (params, buffers), (x,))
        return self.objective.loss_sum(out, y) / len(x)

    def epoch(self, state: CurveState) -> CurveState:
        """Run epoch ``state.epochs_done`` and return the state after it."""
        s = self.settings
        dev = self.objective.device
        control = {
            k: torch.tensor(v, device=dev, requires_grad=True) for k, v in state.control.items()
        }
        velocity = {k: torch.tensor(v, device=dev) for k, v in state.momentum.items()}
        gen = torch.Generator().manual_seed(s.seed * 1_000_003 + state.epochs_done)
        split = self.objective.split
        order = torch.randperm(len(split), generator=gen).to(dev)
        total, count = 0.0, 0
        for start in range(0, len(split), s.batch_size):
            idx = order[start : start + s.batch_size]
            t = float(torch.rand((), generator=gen, dtype=torch.float64))
            loss = self._step_loss(control, t, split.x[idx], split.y[idx])
            grads = torch.autograd.grad(loss, list(control.values()))
            with torch.no_grad():
                for (k, c), g in zip(control.items(), grads, strict=True):
                    velocity[k].mul_(s.momentum).add_(g)
                    c.sub_(velocity[k], alpha=s.lr)
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        return CurveState(
            {k: c.detach().cpu().numpy() for k, c in control.items()},
            {k: v.cpu().numpy() for k, v in velocity.items()},
            state.epochs_done + 1,
            np.append(state.fit_loss, total / count),
        )
