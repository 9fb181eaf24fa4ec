"""Optimizer-aware curvature: preconditioned sharpness and stability thresholds.

An adaptive optimizer steps ``w <- w - η P^{-1} m`` with a diagonal
preconditioner ``P`` built from its second-moment state. On a quadratic with
Hessian ``H`` it is stable only while the *preconditioned sharpness*
``λ_max(P^{-1} H) = λ_max(P^{-1/2} H P^{-1/2})`` stays below a threshold set by
the learning rate and momentum (Cohen et al. 2021, "Gradient Descent on Neural
Networks Typically Occurs at the Edge of Stability"; Cohen et al. 2022,
"Adaptive Gradient Methods at the Edge of Stability"):

==========================  =====================================  ======================
optimizer                   ``P``                                  threshold
==========================  =====================================  ======================
SGD                         ``I``                                  ``2/η``
SGD, heavy-ball momentum β  ``I``                                  ``2(1+β)/((1-τ)η)``
SGD, Nesterov momentum β    ``I``                                  ``2(1+β)/((1+2β)η)``
Adam / AdamW                ``(1-β1^t)(sqrt(v_t/(1-β2^t)) + ε)``   ``(2+2β1)/((1-β1)η)``
RMSprop (momentum μ)        ``sqrt(v_t) + ε`` (centered: v - m²)   ``2(1+μ)/η``
Adagrad                     ``sqrt(G_t) + ε``                      ``2/η_t``
==========================  =====================================  ======================

``τ`` is SGD's dampening and ``η_t = η / (1 + (t-1) decay)`` Adagrad's decayed
rate. Weight decay is left out of ``H`` (AdamW's decoupled decay, SGD's L2
term): the thresholds concern the loss's own curvature.

Optimizer state is accepted live (a ``torch.optim.Optimizer``) or saved (its
``state_dict()``), and is matched to parameter *names*: a saved state's
integer indices follow the order of ``model.named_parameters()``, which is the
order of ``optimizer = Adam(model.parameters())``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from landscape.curvature.lanczos import lanczos
from landscape.curvature.linop import DiagonalSandwich, Operator
from landscape.curvature.results import EigenResult
from landscape.errors import LandscapeError
from landscape.params import ParamDict, flatten
from landscape.records.optimizers import ADAPTIVE


@dataclass(frozen=True)
class OptimizerState:
    """An optimizer's kind, hyperparameters and per-parameter state, keyed by parameter name.

    Attributes:
        name: lower-case class name (``adam``, ``sgd``, ...).
        hparams: hyperparameters of the first parameter group (``lr``, ``betas``, ...).
        state: per-parameter state tensors (``exp_avg_sq``, ``momentum_buffer``, ...).
        lr_scale: per-parameter ``lr_group / lr_first_group`` (1 for one group).

    """

    name: str
    hparams: dict[str, Any]
    state: dict[str, dict[str, Any]]
    lr_scale: dict[str, float]

    @property
    def step(self) -> int:
        """The optimizer's step count (0 when it keeps none)."""
        for s in self.state.values():
            if "step" in s:
                return int(float(s["step"]))
        return 0


def from_optimizer(optimizer: torch.optim.Optimizer, model: nn.Module) -> OptimizerState:
    """Read a live optimizer's state, naming parameters through ``model``."""
    names = {id(p): n for n, p in model.named_parameters()}
    index_names: dict[int, str] = {}
    i = 0
    for group in optimizer.param_groups:
        for p in group["params"]:
            if id(p) not in names:
                raise LandscapeError(
                    "optimizer state: the optimizer holds a parameter that is not in the model"
                )
            index_names[i] = names[id(p)]
            i += 1
    return from_state_dict(optimizer.state_dict(), type(optimizer).__name__, index_names)


def from_state_dict(
    state_dict: Mapping[str, Any], name: str, index_names: Mapping[int, str]
) -> OptimizerState:
    """Turn ``optimizer.state_dict()`` into an :class:`OptimizerState`.

    Args:
        state_dict: with ``state`` (index -> tensors) and ``param_groups``.
        name: the optimizer's class name (``Adam``, ``adamw``, ...).
        index_names: parameter index -> parameter name.

    Raises:
        LandscapeError: if the state dict is malformed or its indices do not
            fit the names.

    """
    if (
        not isinstance(state_dict, Mapping)
        or "param_groups" not in state_dict
        or "state" not in state_dict
    ):
        raise LandscapeError(
            "optimizer state: expected an optimizer state_dict with 'state' and 'param_groups'"
        )
    groups = state_dict["param_groups"]
    if not groups:
        raise LandscapeError("optimizer state: 'param_groups' is empty")
    lr0 = float(groups[0].get("lr", float("nan")))
    state: dict[str, dict[str, Any]] = {}
    scale: dict[str, float] = {}
    for group in groups:
        for idx in group["params"]:
            if idx not in index_names:
                raise LandscapeError(
                    f"optimizer state: parameter index {idx} has no model parameter "
                    f"(the model has {len(index_names)} trainable parameters)"
                )
            key = index_names[idx]
            state[key] = dict(state_dict["state"].get(idx, {}))
            scale[key] = float(group.get("lr", lr0)) / lr0 if lr0 else 1.0
    hparams = {k: v for k, v in groups[0].items() if k != "params"}
    return OptimizerState(name.lower(), hparams, state, scale)


def stability_threshold(opt: OptimizerState) -> float:
    """Return the largest (preconditioned) sharpness at which the optimizer is stable.

    See the module table; NaN for an optimizer not in it.

    >>> round(stability_threshold(OptimizerState("sgd", {"lr": 0.1, "momentum": 0.9}, {}, {})), 9)
    38.0
    >>> adam = OptimizerState("adam", {"lr": 1e-3, "betas": (0.9, 0.999)}, {}, {})
    >>> round(stability_threshold(adam), 6)
    38000.0
    """
    h = opt.hparams
    lr = float(h.get("lr", float("nan")))
    if opt.name == "sgd":
        beta, damp = float(h.get("momentum", 0.0)), float(h.get("dampening", 0.0))
        if beta == 0.0:
            return 2.0 / lr
        if h.get("nesterov", False):
            return (2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * lr)
        return (2.0 + 2.0 * beta) / ((1.0 - damp) * lr)
    if opt.name in ("adam", "adamw"):
        beta1 = float(h.get("betas", (0.9, 0.999))[0])
        return (2.0 + 2.0 * beta1) / ((1.0 - beta1) * lr)
    if opt.name == "rmsprop":
        return (2.0 + 2.0 * float(h.get("momentum", 0.0))) / lr
    if opt.name == "adagrad":
        decay = float(h.get("lr_decay", 0.0))
        return 2.0 * (1.0 + max(opt.step - 1, 0) * decay) / lr
    return float("nan")


def preconditioner(opt: OptimizerState, like: ParamDict) -> ParamDict | None:
    """Return the diagonal ``P`` of an adaptive optimizer, or ``None`` for SGD/unknown.

    Learning rates of later parameter groups are folded in (``P / lr_scale``),
    so the first group's threshold applies to all.

    Raises:
        LandscapeError: if an adaptive optimizer's state lacks a parameter's
            second moment (e.g. the state was saved before the first step).

    """
    if opt.name not in ADAPTIVE:
        return None
    h = opt.hparams
    eps = float(h.get("eps", 1e-10 if opt.name == "adagrad" else 1e-8))
    out: ParamDict = {}
    for name, ref in like.items():
        s = opt.state.get(name, {})
        key = {
            "adam": "exp_avg_sq",
            "adamw": "exp_avg_sq",
            "rmsprop": "square_avg",
            "adagrad": "sum",
        }[opt.name]
        if opt.name in ("adam", "adamw") and h.get("amsgrad", False):
            key = "max_exp_avg_sq"
        if key not in s:
            raise LandscapeError(
                f"optimizer state: {opt.name} state of {name!r} has no {key!r}; "
                "expected a state saved after at least one step"
            )
        v = torch.as_tensor(s[key]).to(device=ref.device, dtype=torch.float64)
        if opt.name in ("adam", "adamw"):
            beta1, beta2 = (float(b) for b in h.get("betas", (0.9, 0.999)))
            t = max(int(float(s.get("step", 1))), 1)
            p = (1.0 - beta1**t) * (torch.sqrt(v / (1.0 - beta2**t)) + eps)
        elif opt.name == "rmsprop":
            if h.get("centered", False) and "grad_avg" in s:
                v = (
                    v
                    - torch.as_tensor(s["grad_avg"]).to(device=ref.device, dtype=torch.float64) ** 2
                )
            p = torch.sqrt(v.clamp_min(0.0)) + eps
        else:
            p = torch.sqrt(v) + eps
        out[name] = p / opt.lr_scale.get(name, 1.0)
    return out


def preconditioned_operator(
    hessian: Operator, p: ParamDict, names: Sequence[str]
) -> DiagonalSandwich:
    """``P^{-1/2} H P^{-1/2}`` for a diagonal ``P`` given by name (flattened in ``names`` order)."""
    return DiagonalSandwich(hessian, flatten(p, names).rsqrt())


def preconditioned_sharpness(
    hessian: Operator,
    p: ParamDict,
    names: Sequence[str],
    *,
    k: int = 1,
    tol: float = 1e-3,
    v0: Tensor | None = None,
    seed: int = 0,
) -> EigenResult:
    """Top eigenpairs of ``P^{-1/2} H P^{-1/2}`` (same eigenvalues as ``P^{-1} H``) by Lanczos.

    >>> H = torch.tensor([[4.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> P = {"w": torch.tensor([4.0, 0.5], dtype=torch.float64)}
    >>> preconditioned_sharpness(H, P, ["w"], tol=1e-10).eigenvalues.round(8).tolist()
    [2.0]
    """
    return lanczos(preconditioned_operator(hessian, p, names), k, tol=tol, v0=v0, seed=seed)


def update_direction(opt: OptimizerState, gradient: ParamDict) -> ParamDict:
    """Return the unit direction of the next step, from the state and the full-batch gradient ``g``.

    Adam/AdamW: ``-P^{-1} m`` with ``m`` the ``exp_avg`` state (``P`` includes
    the bias correction ``1 - β1^t``); SGD and RMSprop with momentum: their
    ``-momentum_buffer`` (already preconditioned for RMSprop); otherwise
    ``-P^{-1} g`` (``P = I`` for SGD).

    >>> opt = OptimizerState("sgd", {"lr": 0.1}, {}, {})
    >>> update_direction(opt, {"w": torch.tensor([3.0, 4.0], dtype=torch.float64)})["w"].tolist()
    [-0.6, -0.8]
    """
    p = preconditioner(opt, gradient)
    out: ParamDict = {}
    for name, g in gradient.items():
        s = opt.state.get(name, {})
        if opt.name in ("adam", "adamw") and "exp_avg" in s and p is not None:
            d = -torch.as_tensor(s["exp_avg"]).to(g.device, torch.float64) / p[name]
        elif s.get("momentum_buffer") is not None:
            d = -torch.as_tensor(s["momentum_buffer"]).to(g.device, torch.float64)
        else:
            d = -g.double() if p is None else -g.double() / p[name]
        out[name] = d
    total = math.sqrt(sum(float((v * v).sum()) for v in out.values()))
    if total == 0.0:
        raise LandscapeError("update direction: the update is zero (zero gradient and no momentum)")
    return {k: (v / total).to(gradient[k].dtype) for k, v in out.items()}


def directional_curvature(hessian: Operator, d: Tensor) -> float:
    """Curvature along ``d``: the Rayleigh quotient ``dᵀ H d / dᵀ d`` (one product).

    >>> directional_curvature(torch.diag(torch.tensor([1.0, 3.0])), torch.ones(2))
    2.0
    """
    d = d.to(torch.float64)
    return float(d @ (hessian @ d.to(hessian.dtype)).to(torch.float64)) / float(d @ d)
