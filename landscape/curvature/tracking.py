"""Sharpness along training: a probe a training loop calls every N steps.

The edge-of-stability picture (Cohen et al. 2021, 2022) plots λ_max, or the
preconditioned λ_max for adaptive optimizers, against the optimizer's
stability threshold over training. :class:`SharpnessProbe` measures both on a
fixed data subset, warm-starting Lanczos from the previous call's
eigenvector, which is close to the new one when the probe is called often.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from landscape.curvature.hvp import HessianLinearOperator, loss_and_gradient
from landscape.curvature.lanczos import lanczos
from landscape.curvature.preconditioned import (
    ADAPTIVE,
    OptimizerState,
    directional_curvature,
    from_optimizer,
    preconditioned_sharpness,
    preconditioner,
    stability_threshold,
    update_direction,
)
from landscape.data import Data, Split
from landscape.errors import LandscapeError
from landscape.params import ParamDict, flatten, model_buffers
from landscape.setup import load_objective

KEYS = (
    "lambda_max",
    "stability_threshold",
    "precond_lambda_max",
    "update_curvature",
    "num_matvecs",
)
"""The keys of every probe result (NaN where a value does not apply)."""


class SharpnessProbe:
    """Measures λ_max (and optimizer-aware curvature) of a model during training.

    Args:
        model: the model being trained (read only: its parameter names map the
            optimizer's state, its buffers are copied at each call).
        split: training data; a fixed subset of ``subset`` rows (seeded) is used.
        loss: loss spec (see :func:`landscape.objective.resolve_loss`).
        subset: rows of the fixed subset.
        seed: seed of the subset and of the first Lanczos start.
        tol: relative residual tolerance of Lanczos.

    Calling ``probe(params, optimizer)`` returns a dict with the keys in
    :data:`KEYS`: ``lambda_max`` (of the loss Hessian), ``stability_threshold``
    (from the optimizer's type and hyperparameters; NaN if unknown or no
    optimizer), ``precond_lambda_max`` (``λ_max(P^{-1/2} H P^{-1/2})`` for
    Adam/AdamW/RMSprop/Adagrad, compare *it* with the threshold; NaN otherwise),
    ``update_curvature`` (``dᵀHd`` along the unit direction of the next update)
    and ``num_matvecs``.

    Example:
        >>> from landscape.models import MLP
        >>> from landscape.params import model_params
        >>> m = MLP(4, 3, hidden=(5,))
        >>> data = Split(torch.randn(32, 4), torch.randint(0, 3, (32,)))
        >>> probe = SharpnessProbe(m, data, subset=16)
        >>> opt = torch.optim.SGD(m.parameters(), lr=0.5)
        >>> out = probe(model_params(m), opt)
        >>> out["stability_threshold"], out["lambda_max"] > 0
        (4.0, True)

    """

    def __init__(
        self,
        model: nn.Module,
        split: Split,
        *,
        loss: str = "cross_entropy",
        subset: int = 1000,
        seed: int = 0,
        tol: float = 1e-3,
    ):
        if subset < 1:
            raise LandscapeError(f"sharpness probe: subset should be at least 1 (got {subset})")
        self.model = model
        self.objective = load_objective(
            model,
            None,
            Data({"train": split}, "sharpness probe"),
            split="train",
            max_samples=subset,
            seed=seed,
            loss=loss,
            batch_size=None,
            device=split.y.device,
        ).objective
        self.seed = seed
        self.tol = tol
        self._top: torch.Tensor | None = None
        self._precond_top: torch.Tensor | None = None
        self._checked = False

    def __call__(
        self,
        params: ParamDict,
        optimizer: torch.optim.Optimizer | OptimizerState | None = None,
        *,
        buffers: ParamDict | None = None,
        update_curvature: bool = True,
    ) -> dict[str, float]:
        """Measure at ``params`` (and the optimizer's current state).

        Args:
            params: the point, by name.
            optimizer: a live optimizer, or its state read from a checkpoint
                (:func:`~landscape.curvature.preconditioned.from_state_dict`).
            buffers: the buffers at ``params`` (default: the model's current ones).
            update_curvature: also measure ``dᵀHd`` along the next update (NaN when off).

        """
        self.objective.buffers = {
            k: v.to(self.objective.device)
            for k, v in (model_buffers(self.model) if buffers is None else buffers).items()
        }
        params = {k: v.detach().to(self.objective.device) for k, v in params.items()}
        op = HessianLinearOperator(self.objective, params, check=not self._checked)
        self._checked = True
        top = lanczos(op, 1, tol=self.tol, v0=self._top, seed=self.seed)
        self._top = top.eigenvectors[0]
        out = dict.fromkeys(KEYS, math.nan)
        out["lambda_max"] = float(top.eigenvalues[0])
        if optimizer is not None:
            opt = (
                optimizer
                if isinstance(optimizer, OptimizerState)
                else from_optimizer(optimizer, self.model)
            )
            out["stability_threshold"] = stability_threshold(opt)
            out.update(self._optimizer_curvature(op, opt, params, update_curvature))
        out["num_matvecs"] = float(op.num_matvecs)
        return out

    def state_dict(self) -> dict[str, torch.Tensor | bool | None]:
        """The warm-start state a resumed run needs to repeat this probe's results exactly.

        The Lanczos start vectors (the last eigenvectors) and whether the
        determinism check has run; saved in ``landscape train``'s checkpoints.
        """
        return {"top": self._top, "precond_top": self._precond_top, "checked": self._checked}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Restore what :meth:`state_dict` returned.

        Raises:
            LandscapeError: if ``state`` is not such a dict.

        """
        top, precond_top, checked = state.get("top"), state.get("precond_top"), state.get("checked")
        if not isinstance(checked, bool) or not all(
            v is None or isinstance(v, torch.Tensor) for v in (top, precond_top)
        ):
            raise LandscapeError("sharpness probe: expected the state saved by state_dict()")
        device = self.objective.device
        self._top = top.to(device) if isinstance(top, torch.Tensor) else None
        self._precond_top = (
            precond_top.to(device) if isinstance(precond_top, torch.Tensor) else None
        )
        self._checked = checked

    def _optimizer_curvature(
        self,
        op: HessianLinearOperator,
        opt: OptimizerState,
        params: ParamDict,
        update_curvature: bool,
    ) -> dict[str, float]:
        p = None
        if opt.name in ADAPTIVE:
            if not all(opt.state.get(name) for name in params):
                return {}  # before the first step there is no state to precondition with
            p = preconditioner(opt, params)
        out = {}
        if p is not None:
            res = preconditioned_sharpness(
                op, p, list(params), tol=self.tol, v0=self._precond_top, seed=self.seed
            )
            self._precond_top = res.eigenvectors[0]
            out["precond_lambda_max"] = float(res.eigenvalues[0])
        if not update_curvature:
            return out
        gradient = (
            op.gradient if op.gradient is not None else loss_and_gradient(self.objective, params)[1]
        )
        out["update_curvature"] = directional_curvature(
            op, flatten(update_direction(opt, gradient), params)
        )
        return out
