"""Hessian-vector products of a full-data loss as a linear operator.

``H v`` is computed forward-over-reverse (Pearlmutter 1994; ``torch.func.jvp``
of ``torch.func.grad``), one data pass for a whole block of vectors through
``torch.func.vmap``. The loss is the objective's mean over its fixed batches,
``L(w) = (1/N) sum_b sum_{i in b} l_i(w)``, so batches are weighted by their
size. The objective holds an eval-mode private copy of the model, so its
buffers (BatchNorm statistics) are never modified.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import Tensor
from torch.func import grad, grad_and_value, jvp, vmap

from landscape.errors import LandscapeError
from landscape.params import ParamDict, flatten, unflatten


class BatchObjective(Protocol):
    """What the operator needs of an objective (``landscape.objective.Objective`` has it)."""

    num_samples: int

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        """The data batches of one full pass."""
        ...

    def batch_loss_sum(self, params: ParamDict, x: Tensor, y: Tensor) -> Tensor:
        """The summed loss of one batch (differentiable in ``params``)."""
        ...


def loss_and_gradient(objective: BatchObjective, params: ParamDict) -> tuple[float, ParamDict]:
    """Full-data mean loss and its gradient ``∇L(w) = (1/N) sum_i ∇l_i(w)``.

    >>> from landscape.data import Split
    >>> from landscape.objective import Objective
    >>> obj = Objective(torch.nn.Linear(1, 1, bias=False),
    ...                 Split(torch.ones(2, 1), torch.zeros(2, 1)), loss="mse")
    >>> loss, g = loss_and_gradient(obj, {"weight": torch.tensor([[3.0]])})
    >>> loss, g["weight"].item()   # L = w^2, dL/dw = 2w
    (9.0, 6.0)
    """
    params = {k: v.detach() for k, v in params.items()}
    total = 0.0
    acc = {k: torch.zeros_like(v) for k, v in params.items()}
    for x, y in objective.batches():
        g, value = grad_and_value(lambda p, x=x, y=y: objective.batch_loss_sum(p, x, y))(params)
        total += float(value)
        for k in acc:
            acc[k] += g[k]
    n = objective.num_samples
    return total / n, {k: v / n for k, v in acc.items()}


def check_deterministic(objective: BatchObjective, params: ParamDict, *, rtol: float | None = None) -> tuple[float, ParamDict]:
    """Evaluate loss and gradient twice and raise if the two passes differ.

    Lanczos, power iteration and every trace estimator assume that ``H`` is one
    fixed matrix; a data source that reshuffles, augments or subsamples, or a
    model with active dropout or train-mode BatchNorm, breaks that silently.

    Args:
        objective: the objective whose loss must be reproducible.
        params: the point.
        rtol: allowed relative difference (default ``1e-5`` in float32,
            ``1e-10`` in float64).

    Returns:
        ``(loss, gradient)`` of the first pass.

    Raises:
        LandscapeError: naming the likely causes when the passes differ.
    """
    loss1, g1 = loss_and_gradient(objective, params)
    loss2, g2 = loss_and_gradient(objective, params)
    dtype = next(iter(params.values())).dtype
    if rtol is None:
        rtol = 1e-10 if dtype == torch.float64 else 1e-5
    v1, v2 = flatten(g1).double(), flatten(g2).double()
    gdiff = float((v1 - v2).norm() / v1.norm().clamp_min(1e-300))
    ldiff = abs(loss1 - loss2) / max(abs(loss1), 1e-300)
    if ldiff > rtol or gdiff > rtol or not np.isfinite(loss1):
        raise LandscapeError(
            f"hessian: the loss is not deterministic (two passes gave loss {loss1:.6g} and {loss2:.6g}, "
            f"gradients differ by {gdiff:.2g} relative); expected fixed data with no augmentation, "
            "shuffling, subsampling, active dropout or train-mode BatchNorm"
        )
    return loss1, g1


class HessianLinearOperator:
    """The Hessian ``H = ∇²L(w)`` of an objective at ``params``, as a matrix-free operator.

    ``H @ v`` takes a flat vector ``(n,)`` or a block ``(n, m)`` of vectors
    (flattened in parameter-name order) and returns the same shape and dtype.
    A block costs one pass over the data for every ``max_vectors`` columns.

    Args:
        objective: the loss (see :class:`BatchObjective`).
        params: the point ``w`` (name-keyed; not modified).
        max_vectors: columns per vmapped pass (bounds memory).
        check: run :func:`check_deterministic` first.

    Attributes:
        shape: ``(n, n)``.
        dtype: the parameters' dtype.
        device: the parameters' device.
        num_matvecs: Hessian-vector products computed so far.
        loss: the loss at ``params`` (from the determinism check, else ``None``).
        gradient: the gradient at ``params`` (from the check, else ``None``).

    Example:
        >>> from landscape.data import Split
        >>> from landscape.objective import Objective
        >>> obj = Objective(torch.nn.Linear(2, 1, bias=False),
        ...                 Split(torch.eye(2), torch.zeros(2, 1)), loss="mse")
        >>> H = HessianLinearOperator(obj, {"weight": torch.ones(1, 2)})
        >>> (H @ torch.tensor([1.0, 0.0])).tolist()   # L = (w1^2 + w2^2)/2
        [1.0, 0.0]
    """

    def __init__(
        self,
        objective: BatchObjective,
        params: ParamDict,
        *,
        max_vectors: int = 32,
        check: bool = True,
    ):
        if not params:
            raise LandscapeError("hessian: expected at least one parameter (got none)")
        if max_vectors < 1:
            raise LandscapeError(f"hessian: max_vectors should be at least 1 (got {max_vectors})")
        self.objective = objective
        self.params: ParamDict = {k: v.detach() for k, v in params.items()}
        first = next(iter(self.params.values()))
        n = sum(v.numel() for v in self.params.values())
        self.shape = (n, n)
        self.dtype = first.dtype
        self.device = first.device
        self.max_vectors = max_vectors
        self.num_matvecs = 0
        self.loss: float | None = None
        self.gradient: ParamDict | None = None
        if check:
            self.loss, self.gradient = check_deterministic(objective, self.params)

    def __matmul__(self, v: Tensor) -> Tensor:
        """``H v`` for ``v`` of shape ``(n,)`` or ``(n, m)``, in ``v``'s dtype and device."""
        if v.dim() not in (1, 2) or v.shape[0] != self.shape[0]:
            raise LandscapeError(f"hessian: expected a vector of shape ({self.shape[0]},) or ({self.shape[0]}, m); got {tuple(v.shape)}")
        block = v.reshape(self.shape[0], -1).T.to(device=self.device, dtype=self.dtype)
        out = torch.cat([self._block(block[i : i + self.max_vectors]) for i in range(0, block.shape[0], self.max_vectors)])
        out = out.T.to(device=v.device, dtype=v.dtype)
        return out.reshape(v.shape)

    def matvec_params(self, v: ParamDict) -> ParamDict:
        """``H v`` for a name-keyed vector."""
        return unflatten(self @ flatten(v, self.params).to(self.dtype), self.params)

    def _block(self, rows: Tensor) -> Tensor:
        """``(m, n) -> (m, n)``: Hessian times each row, in one data pass."""
        m = rows.shape[0]
        tangents: ParamDict = {}
        i = 0
        for k, p in self.params.items():
            tangents[k] = rows[:, i : i + p.numel()].reshape(m, *p.shape)
            i += p.numel()
        acc = torch.zeros_like(rows)
        for x, y in self.objective.batches():
            def batch_grad(p: ParamDict, x: Tensor = x, y: Tensor = y) -> ParamDict:
                return grad(lambda q: self.objective.batch_loss_sum(q, x, y))(p)

            def hvp(t: ParamDict, batch_grad=batch_grad) -> ParamDict:
                return jvp(batch_grad, (self.params,), (t,))[1]

            out = vmap(hvp)(tangents)
            acc += torch.cat([out[k].reshape(m, -1) for k in self.params], dim=1)
        self.num_matvecs += m
        return acc / self.objective.num_samples

    def to_scipy(self) -> LinearOperator:
        """A ``scipy.sparse.linalg.LinearOperator`` (float64 numpy in and out) for ``eigsh`` & co."""

        def matmat(x: np.ndarray) -> np.ndarray:
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
            return (self @ t).numpy()

        return LinearOperator(self.shape, matvec=matmat, matmat=matmat, rmatvec=matmat, dtype=np.float64)

    def dense(self) -> Tensor:
        """The full ``(n, n)`` matrix, column by column (only for small models)."""
        return self @ torch.eye(self.shape[0], dtype=self.dtype, device=self.device)
