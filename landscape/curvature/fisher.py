"""Fisher information matrices of a likelihood loss: Monte Carlo and empirical, matrix-free.

For a loss that is a negative log-likelihood ``l(f, y) = -log p(y | f)`` up to
a constant, the Fisher is

    F = (1/N) sum_i E_{ŷ ~ p(· | f_i)} [g_i(ŷ) g_i(ŷ)ᵀ],   g_i(ŷ) = ∇_w l(f(x_i; w), ŷ),

which equals the GGN for the exponential-family losses here (Martens 2020,
Sec. 9.2). The Monte Carlo Fisher replaces the expectation by the mean over
``S`` targets drawn from the model's own predictive distribution; the
empirical Fisher puts the data's targets in instead (Kunstner, Hennig &
Balles 2019 on why it is not the Fisher). Both are ``Jᵀ M J`` with the
output-space ``M_i = (1/S) sum_s e_is e_isᵀ``, ``e_is = ∇_f l(f_i, ŷ_is)``,
applied through :class:`~landscape.curvature.ggn.OutputSpaceOperator`.

Losses: cross-entropy (categorical ``p = softmax(f)``) and the summed squared
error ``||f - y||²``, the Gaussian with variance ``1/2`` (so ``E[e eᵀ] = 2 I``,
its output Hessian).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.func import grad, vmap

from landscape.curvature.ggn import OutputSpaceOperator
from landscape.curvature.operator import shard_rows
from landscape.errors import LandscapeError

Likelihood = Literal["categorical", "gaussian"]
_LIKELIHOODS: dict[str, Likelihood] = {
    "cross_entropy": "categorical",
    "ce": "categorical",
    "CrossEntropyLoss": "categorical",
    "mse": "gaussian",
    "MSELoss": "gaussian",
}


def likelihood_of(loss: str) -> Likelihood:
    """The predictive distribution behind a loss spec, for drawing Fisher targets.

    >>> likelihood_of("cross_entropy"), likelihood_of("MSELoss")
    ('categorical', 'gaussian')
    """
    if loss not in _LIKELIHOODS:
        raise LandscapeError(
            f"fisher: expected a cross_entropy or mse loss, whose likelihood is known "
            f"(got {loss!r})"
        )
    return _LIKELIHOODS[loss]


class _GradientOuterProducts(OutputSpaceOperator):
    """``Jᵀ M J`` with ``M_i = (1/S) sum_s e_is e_isᵀ`` for the output gradients at some targets."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._factors: dict[int, Tensor] = {}

    @abstractmethod
    def targets(self, b: int) -> Tensor:
        """The ``(S, rows, ...)`` targets of batch ``b`` on this rank."""

    def _output_products(self, b: int, out: Tensor, y: Tensor, u: Tensor) -> Tensor:
        """``(1/S) sum_s e_s (e_s · u)`` row by row; the ``e_s`` are kept per batch."""
        if b not in self._factors:
            self._factors[b] = vmap(lambda t: grad(lambda o: self.objective.loss_sum(o, t))(out))(
                self.targets(b)
            )
        e = self._factors[b].reshape(-1, out.shape[0], math.prod(out.shape[1:]))
        uf = u.reshape(u.shape[0], out.shape[0], -1)
        coef = torch.einsum("sbc,mbc->msb", e, uf)
        return (torch.einsum("msb,sbc->mbc", coef, e) / e.shape[0]).reshape(u.shape)

    def _batch(self, b: int) -> tuple[Tensor, Tensor]:
        """The full batch ``b`` (all ranks' rows)."""
        for i, batch in enumerate(self.objective.batches()):
            if i == b:
                return batch
        raise LandscapeError(f"{self.name}: the data has no batch {b}")


class MonteCarloFisherLinearOperator(_GradientOuterProducts):
    """The Monte Carlo Fisher ``(1/(N S)) sum_i sum_s g_i(ŷ_is) g_i(ŷ_is)ᵀ``, ŷ from the model.

    The targets are drawn once (on first use) from the model's predictive
    distribution at ``params``, ``num_samples`` per row, from a generator seeded
    with ``(seed, batch index)``: the operator is one fixed matrix, the same
    on every rank and world size. Its expectation over the draws is the
    Fisher, which for these losses equals the GGN.

    Args:
        objective: the loss, ``cross_entropy`` or ``mse`` (see :func:`likelihood_of`).
        params: the point.
        num_samples: targets drawn per row ``S`` (at least 1).
        seed: seed of the draws.
        **kwargs: as for :class:`~landscape.curvature.operator.CurvatureLinearOperator`.

    Example:
        >>> from landscape.data import Split
        >>> from landscape.objective import Objective
        >>> obj = Objective(torch.nn.Linear(2, 1, bias=False),
        ...                 Split(torch.eye(2), torch.zeros(2, 1)), loss="mse")
        >>> F = MonteCarloFisherLinearOperator(obj, {"weight": torch.ones(1, 2)}, num_samples=4)
        >>> F.targets(0).shape
        torch.Size([4, 2, 1])

    """

    name = "fisher"

    def __init__(self, *args: Any, num_samples: int = 1, seed: int = 0, **kwargs: Any):
        if num_samples < 1:
            raise LandscapeError(f"fisher: num_samples should be at least 1 (got {num_samples})")
        super().__init__(*args, **kwargs)
        self.likelihood = likelihood_of(self.objective.loss_spec)
        self.num_samples = num_samples
        self.seed = seed
        self._targets: dict[int, Tensor] = {}

    def targets(self, b: int) -> Tensor:
        """The ``(S, rows, ...)`` targets drawn for this rank's rows of batch ``b``."""
        if b not in self._targets:
            x_all, _ = self._batch(b)
            gen = torch.Generator().manual_seed(
                int(np.random.SeedSequence([self.seed, b]).generate_state(1)[0])
            )
            with torch.no_grad():
                out = self.objective.forward(self.params, shard_rows(x_all, self.context))
            s = self.num_samples
            if self.likelihood == "categorical":
                if out.dim() != 2:
                    raise LandscapeError(
                        f"fisher: cross-entropy targets need (batch, classes) outputs "
                        f"(got {tuple(out.shape)})"
                    )
                uniform = torch.rand(x_all.shape[0], s, generator=gen, dtype=torch.float64)
                cdf = out.double().softmax(-1).cumsum(-1).cpu()
                u = shard_rows(uniform, self.context)
                drawn = (u[:, :, None] > cdf[:, None, :]).sum(-1).clamp(max=out.shape[-1] - 1)
                self._targets[b] = drawn.T.contiguous().to(out.device)
            else:
                shape = (x_all.shape[0], s, *out.shape[1:])
                noise = shard_rows(
                    torch.randn(shape, generator=gen, dtype=torch.float64), self.context
                )
                noise = noise.transpose(0, 1).to(device=out.device, dtype=out.dtype)
                self._targets[b] = out[None] + math.sqrt(0.5) * noise
        return self._targets[b]


class EmpiricalFisherLinearOperator(_GradientOuterProducts):
    """The empirical Fisher ``(1/N) sum_i g_i g_iᵀ`` with ``g_i = ∇_w l(f(x_i; w), y_i)``.

    The outer product of the per-row gradients at the data's own targets: no
    sampling, any loss. Not the Fisher (Kunstner et al. 2019), but what many
    optimizers (Adam's second moment, among others) approximate.

    Example:
        >>> from landscape.data import Split
        >>> from landscape.objective import Objective
        >>> obj = Objective(torch.nn.Linear(1, 1, bias=False),
        ...                 Split(torch.ones(1, 1), torch.zeros(1, 1)), loss="mse")
        >>> E = EmpiricalFisherLinearOperator(obj, {"weight": torch.tensor([[3.0]])})
        >>> (E @ torch.tensor([1.0])).tolist()   # g = 2 w = 6
        [36.0]

    """

    name = "empirical-fisher"

    def targets(self, b: int) -> Tensor:
        """The data's targets of this rank's rows of batch ``b``, as one sample."""
        return shard_rows(self._batch(b)[1], self.context)[None]
