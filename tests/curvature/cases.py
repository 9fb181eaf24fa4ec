"""Small float64 cases shared by the curvature tests: models, objectives and dense matrices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.func import hessian, jacrev

from landscape.curvature.fisher import MonteCarloFisherLinearOperator
from landscape.data import Split
from landscape.models import MLP, CNN1d
from landscape.objective import Objective
from landscape.params import flatten, unflatten

CASES: dict[str, dict[str, Any]] = {
    "mlp-ce": dict(model=lambda: MLP(5, 3, hidden=(4,)), features=5, loss="cross_entropy", batch=3),
    "mlp-mse": dict(model=lambda: MLP(5, 3, hidden=(4,)), features=5, loss="mse", batch=4),
    "cnn-ce": dict(
        model=lambda: CNN1d(length=8, num_classes=3, channels=2),
        features=8,
        loss="cross_entropy",
        batch=7,
    ),
}
"""Model, input width, loss and batch size of each case; 3 outputs (classes or targets)."""


def make_case(
    name: str, rows: int = 11, *, cases: Mapping[str, Mapping[str, Any]] = CASES
) -> tuple[Objective, dict[str, torch.Tensor]]:
    """The float64 objective of case ``name`` on ``rows`` seeded rows, and its parameters.

    The default 11 rows split into unequal batches for every batch size in ``CASES``.
    """
    spec = cases[name]
    torch.manual_seed(0)
    model = spec["model"]().double()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(rows, spec["features"], generator=gen, dtype=torch.float64)
    y = (
        torch.randn(rows, 3, generator=gen, dtype=torch.float64)
        if spec["loss"] == "mse"
        else torch.randint(0, 3, (rows,), generator=gen)
    )
    obj = Objective(model, Split(x, y), loss=spec["loss"], batch_size=spec["batch"])
    return obj, {k: v.detach().clone() for k, v in model.named_parameters()}


def mlp_objective(
    rows: int, *, batch_size: int | None = None
) -> tuple[Objective, dict[str, torch.Tensor]]:
    """A float64 ``MLP(6, 4, hidden=(8,))`` on ``rows`` Gaussian rows of 4 classes, and its parameters."""
    torch.manual_seed(0)
    model = MLP(6, 4, hidden=(8,)).double()
    gen = torch.Generator().manual_seed(1)
    split = Split(
        torch.randn(rows, 6, generator=gen, dtype=torch.float64),
        torch.randint(0, 4, (rows,), generator=gen),
    )
    params = {k: v.detach() for k, v in model.named_parameters()}
    return Objective(model, split, batch_size=batch_size), params


def dense_hessian(obj: Objective, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """The dense Hessian of ``obj.loss`` at ``params`` by ``torch.func.hessian``."""
    return hessian(lambda flat: obj.loss(unflatten(flat, params)))(flatten(params))


def wishart(n: int, m: int, seed: int) -> torch.Tensor:
    """A seeded ``n x n`` Wishart matrix ``X Xᵀ / m`` with ``X`` of shape ``(n, m)``."""
    x = torch.randn(n, m, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x @ x.T / m


def decaying(n: int, seed: int, power: float = 2.0) -> torch.Tensor:
    """A seeded symmetric ``n x n`` matrix with eigenvalues ``i^-power``, ``i = 1..n``."""
    q, _ = torch.linalg.qr(
        torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    )
    return q @ torch.diag(torch.arange(1, n + 1, dtype=torch.float64) ** -power) @ q.T


def jacobian(obj: Objective, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """``(rows, outputs, n)``: the Jacobian of the outputs on the whole split at once."""
    return jacrev(lambda flat: obj.forward(unflatten(flat, params), obj.split.x))(flatten(params))


def dense_ggn(obj: Objective, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """``Jᵀ H_out J / N``: the generalized Gauss-Newton matrix, from the dense Jacobian."""
    out = obj.forward(params, obj.split.x).detach()
    h_out = hessian(lambda o: obj.loss_sum(o, obj.split.y))(out)  # (B, C, B, C)
    j = jacobian(obj, params)
    return torch.einsum("bcn,bcde,dem->nm", j, h_out, j) / obj.num_samples


def dense_outer(
    obj: Objective, params: dict[str, torch.Tensor], targets: torch.Tensor
) -> torch.Tensor:
    """``(1/(N S)) sum_s sum_i g_i g_iᵀ`` of the per-row gradients at ``targets`` ``(S, rows, ...)``."""
    x = obj.split.x
    total = torch.zeros(2 * (flatten(params).numel(),), dtype=torch.float64)
    for t in targets:
        g = jacrev(
            lambda flat, t=t: torch.stack(
                [
                    obj.loss_sum(obj.forward(unflatten(flat, params), x[i : i + 1]), t[i : i + 1])
                    for i in range(len(x))
                ]
            )
        )(flatten(params))
        total += g.T @ g
    return total / (obj.num_samples * len(targets))


def dense_matrix(
    matrix: str,
    obj: Objective,
    params: dict[str, torch.Tensor],
    *,
    fisher_samples: int = 2,
    seed: int = 3,
) -> torch.Tensor:
    """The dense float64 form of ``matrix``, written independently of the operators.

    The Monte Carlo Fisher is the outer product at the targets that
    ``MonteCarloFisherLinearOperator`` draws with ``fisher_samples`` and ``seed``.
    """
    if matrix == "hessian":
        return dense_hessian(obj, params)
    if matrix == "ggn":
        return dense_ggn(obj, params)
    if matrix == "empirical-fisher":
        return dense_outer(obj, params, obj.split.y[None])
    draws = MonteCarloFisherLinearOperator(obj, params, num_samples=fisher_samples, seed=seed)
    targets = torch.cat([draws.targets(b) for b in range(len(list(obj.batches())))], dim=1)
    return dense_outer(obj, params, targets)
