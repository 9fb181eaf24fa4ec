"""The shared base of the curvature operators: Hessian, GGN and Fisher of a full-data loss.

Each curvature matrix here is a mean over the data, ``C = (1/N) sum_b C_b``
with ``C_b`` the summed contribution of batch ``b``; a subclass says how to
apply ``C_b`` to a block of vectors (:meth:`CurvatureLinearOperator._batch_products`),
and the base does the rest: vectors flattened in parameter-name order, blocks
of at most ``max_vectors`` columns per data pass, the rows of every batch
split across ranks under torchrun, the product count, and scipy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import Tensor

from landscape.attention import double_backward_attention
from landscape.data import Inputs
from landscape.distributed import Context
from landscape.errors import LandscapeError
from landscape.params import ParamDict, flatten, num_params, unflatten


class BatchObjective(Protocol):
    """What the operators need of an objective (``landscape.objective.Objective`` has it)."""

    num_samples: int

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield the data batches of one full pass."""
        ...

    def batch_loss_sum(self, params: ParamDict, x: Tensor, y: Tensor) -> Tensor:
        """Return the summed loss of one batch (differentiable in ``params``)."""
        ...


def shard_rows(t: Inputs, context: Context) -> Inputs:
    """Rank ``r``'s chunk of ``t``'s rows: chunk ``r`` of ``world_size`` nearly equal ones.

    A dict of input tensors is split entry by entry, along the same rows.

    >>> shard_rows(torch.arange(5), Context(rank=1, world_size=2)).tolist()
    [3, 4]
    >>> shard_rows({"ids": torch.arange(5)}, Context(rank=0, world_size=2))["ids"].tolist()
    [0, 1, 2]
    """
    if context.world_size == 1:
        return t
    if isinstance(t, dict):
        return {k: v.tensor_split(context.world_size)[context.rank] for k, v in t.items()}
    return t.tensor_split(context.world_size)[context.rank]


def indexed_shards(objective: BatchObjective, context: Context) -> list[tuple[int, Tensor, Tensor]]:
    """``(batch index, x, y)`` of the calling rank's rows of every batch (empty chunks left out).

    The index is the batch's position in the full pass, the same on every rank
    and for every world size, so per-batch random draws can be keyed on it.
    """
    out = []
    for b, (x, y) in enumerate(objective.batches()):
        xs, ys = shard_rows(x, context), shard_rows(y, context)
        if len(ys):
            out.append((b, xs, ys))
    return out


def shard_batches(objective: BatchObjective, context: Context) -> list[tuple[Tensor, Tensor]]:
    """Return the calling rank's rows of every batch (all of them in a single process).

    Each batch is split into ``world_size`` nearly equal row chunks and rank
    ``r`` keeps chunk ``r``, so even one big batch is shared; the summed losses
    of the chunks add up to the batch's (the objective's loss is a sum over rows).

    >>> from landscape.data import Split
    >>> from landscape.objective import Objective
    >>> data = Split(torch.arange(5.0)[:, None], torch.zeros(5, 1))
    >>> obj = Objective(torch.nn.Linear(1, 1), data, loss="mse")
    >>> [x.flatten().tolist() for x, _ in shard_batches(obj, Context(rank=1, world_size=2))]
    [[3.0, 4.0]]
    """
    return [(x, y) for _, x, y in indexed_shards(objective, context)]


def loss_and_gradient(
    objective: BatchObjective, params: ParamDict, *, context: Context | None = None
) -> tuple[float, ParamDict]:
    """Full-data mean loss and its gradient ``∇L(w) = (1/N) sum_i ∇l_i(w)``.

    With a distributed ``context``, every rank sums over its rows
    (:func:`shard_batches`) and the sums are all-reduced.

    >>> from landscape.data import Split
    >>> from landscape.objective import Objective
    >>> obj = Objective(torch.nn.Linear(1, 1, bias=False),
    ...                 Split(torch.ones(2, 1), torch.zeros(2, 1)), loss="mse")
    >>> loss, g = loss_and_gradient(obj, {"weight": torch.tensor([[3.0]])})
    >>> loss, g["weight"].item()   # L = w^2, dL/dw = 2w
    (9.0, 6.0)
    """
    context = context or Context()
    p = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    ref = next(iter(p.values()))
    total = torch.zeros((), dtype=ref.dtype, device=ref.device)
    acc = {k: torch.zeros_like(v) for k, v in p.items()}
    with torch.enable_grad():
        for x, y in shard_batches(objective, context):
            value = objective.batch_loss_sum(p, x, y)
            grads = torch.autograd.grad(value, list(p.values()), materialize_grads=True)
            total += value.detach()
            for k, g in zip(acc, grads, strict=True):
                acc[k] += g
    if context.active:
        packed = context.all_reduce_sum(torch.cat([total.reshape(1), flatten(acc)]))
        total, acc = packed[0], unflatten(packed[1:], acc)
    n = objective.num_samples
    return float(total) / n, {k: v / n for k, v in acc.items()}


def check_deterministic(
    objective: BatchObjective,
    params: ParamDict,
    *,
    rtol: float | None = None,
    context: Context | None = None,
) -> tuple[float, ParamDict]:
    """Evaluate loss and gradient twice and raise if the two passes differ.

    Lanczos, power iteration and every trace estimator assume that ``H`` is one
    fixed matrix; a data source that reshuffles, augments or subsamples, or a
    model with active dropout or train-mode BatchNorm, breaks that silently.

    Args:
        objective: the objective whose loss must be reproducible.
        params: the point.
        rtol: allowed relative difference (default ``1e-5`` in float32,
            ``1e-10`` in float64).
        context: distributed context (see :class:`HessianLinearOperator`).

    Returns:
        ``(loss, gradient)`` of the first pass.

    Raises:
        LandscapeError: naming the likely causes when the passes differ.

    """
    loss1, g1 = loss_and_gradient(objective, params, context=context)
    loss2, g2 = loss_and_gradient(objective, params, context=context)
    dtype = next(iter(params.values())).dtype
    if rtol is None:
        rtol = 1e-10 if dtype == torch.float64 else 1e-5
    v1, v2 = flatten(g1).double(), flatten(g2).double()
    gdiff = float((v1 - v2).norm() / v1.norm().clamp_min(1e-300))
    ldiff = abs(loss1 - loss2) / max(abs(loss1), 1e-300)
    if ldiff > rtol or gdiff > rtol or not np.isfinite(loss1):
        raise LandscapeError(
            "hessian: the loss is not deterministic "
            f"(two passes gave loss {loss1:.6g} and {loss2:.6g}, "
            f"gradients differ by {gdiff:.2g} relative); expected fixed data with no augmentation, "
            "shuffling, subsampling, active dropout or train-mode BatchNorm"
        )
    return loss1, g1


class CurvatureLinearOperator(ABC):
    """A symmetric ``n x n`` curvature matrix of an objective at ``params``, matrix-free.

    ``C @ v`` takes a flat vector ``(n,)`` or a block ``(n, m)`` of vectors
    (flattened in parameter-name order) and returns the same shape and dtype.
    A block costs one pass over the data for every ``max_vectors`` columns.

    Args:
        objective: the loss (see :class:`BatchObjective`).
        params: the point ``w`` (name-keyed; not modified).
        max_vectors: columns per vmapped pass (bounds memory).
        check: run :func:`check_deterministic` first.
        context: a distributed context (``landscape.distributed.current()``
            under torchrun): each rank then works on its rows of the data and
            the products are all-reduced, so every rank holds the same ``C v``.
            Default: a single process (never communicates).

    Attributes:
        shape: ``(n, n)``.
        dtype: the parameters' dtype.
        device: the parameters' device.
        num_matvecs: matrix-vector products computed so far.
        loss: the loss at ``params`` (from the determinism check, else ``None``).
        gradient: the gradient at ``params`` (from the check, else ``None``).

    """

    name = "curvature"
    """What the matrix is called in messages."""

    def __init__(
        self,
        objective: BatchObjective,
        params: ParamDict,
        *,
        max_vectors: int = 32,
        check: bool = True,
        context: Context | None = None,
    ):
        if not params:
            raise LandscapeError(f"{self.name}: expected at least one parameter (got none)")
        if max_vectors < 1:
            raise LandscapeError(
                f"{self.name}: max_vectors should be at least 1 (got {max_vectors})"
            )
        self.objective = objective
        self.params: ParamDict = {k: v.detach() for k, v in params.items()}
        first = next(iter(self.params.values()))
        n = num_params(self.params)
        self.shape = (n, n)
        self.dtype = first.dtype
        self.device = first.device
        self.max_vectors = max_vectors
        self.num_matvecs = 0
        self.loss: float | None = None
        self.gradient: ParamDict | None = None
        self.context = context or Context()
        if check:
            self.loss, self.gradient = check_deterministic(
                objective, self.params, context=self.context
            )

    def __matmul__(self, v: Tensor) -> Tensor:
        """``C v`` for ``v`` of shape ``(n,)`` or ``(n, m)``, in ``v``'s dtype and device."""
        if v.dim() not in (1, 2) or v.shape[0] != self.shape[0]:
            raise LandscapeError(
                f"{self.name}: expected a vector of shape ({self.shape[0]},) or "
                f"({self.shape[0]}, m); got {tuple(v.shape)}"
            )
        block = v.reshape(self.shape[0], -1).T.to(device=self.device, dtype=self.dtype)
        with double_backward_attention():  # fused attention kernels have no double backward
            out = torch.cat(
                [
                    self._block(block[i : i + self.max_vectors])
                    for i in range(0, block.shape[0], self.max_vectors)
                ]
            )
        out = out.T.to(device=v.device, dtype=v.dtype)
        return out.reshape(v.shape)

    def matvec_params(self, v: ParamDict) -> ParamDict:
        """``C v`` for a name-keyed vector."""
        return unflatten(self @ flatten(v, self.params).to(self.dtype), self.params)

    def _block(self, rows: Tensor) -> Tensor:
        """``(m, n) -> (m, n)``: the matrix times each row, in one data pass."""
        m = rows.shape[0]
        tangents: ParamDict = {}
        i = 0
        for k, p in self.params.items():
            tangents[k] = rows[:, i : i + p.numel()].reshape(m, *p.shape)
            i += p.numel()
        acc = torch.zeros_like(rows)
        shards = indexed_shards(self.objective, self.context)
        for b, x, y in shards:
            out = self._batch_products(b, x, y, tangents, single=len(shards) == 1)
            acc += torch.cat([out[k].reshape(m, -1) for k in self.params], dim=1)
        self.context.all_reduce_sum(acc)
        self.num_matvecs += m
        return acc / self.objective.num_samples

    @abstractmethod
    def _batch_products(
        self, b: int, x: Tensor, y: Tensor, tangents: ParamDict, *, single: bool
    ) -> ParamDict:
        """``C_b t`` for each of the ``m`` stacked tangents (leading axis ``m``).

        Args:
            b: the batch's index in the full pass.
            x: this rank's inputs of the batch.
            y: its targets.
            tangents: ``m`` vectors, name-keyed, each with a leading axis ``m``.
            single: whether this is the only batch, so per-batch work may be
                kept between products.

        """

    def to_scipy(self) -> LinearOperator:
        """Return a scipy ``LinearOperator`` (float64 numpy in and out) for ``eigsh`` & co."""

        def matmat(x: np.ndarray) -> np.ndarray:
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
            return (self @ t).numpy()

        return LinearOperator(
            self.shape, matvec=matmat, matmat=matmat, rmatvec=matmat, dtype=np.float64
        )

    def dense(self) -> Tensor:
        """Return the full ``(n, n)`` matrix, column by column (only for small models)."""
        return self @ torch.eye(self.shape[0], dtype=self.dtype, device=self.device)
