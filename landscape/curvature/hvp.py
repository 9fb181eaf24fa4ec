"""Hessian-vector products of a full-data loss as a linear operator.

``H v`` is computed forward-over-reverse (Pearlmutter 1994; ``torch.func.jvp``
of ``torch.func.grad``), one data pass for a whole block of vectors through
``torch.func.vmap``; a single vector (Lanczos, power iteration) goes by double
backward instead, which measured 2-3x faster than an unbatched ``jvp`` on CPU
(and reuses the gradient graph when the data is one batch).
The loss is the objective's mean over its fixed batches,
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
from torch.func import grad, jvp, vmap

from landscape.attention import double_backward_attention
from landscape.distributed import Context
from landscape.errors import LandscapeError
from landscape.params import ParamDict, flatten, unflatten


class BatchObjective(Protocol):
    """What the operator needs of an objective (``landscape.objective.Objective`` has it)."""

    num_samples: int

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield the data batches of one full pass."""
        ...

    def batch_loss_sum(self, params: ParamDict, x: Tensor, y: Tensor) -> Tensor:
        """Return the summed loss of one batch (differentiable in ``params``)."""
        ...


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
    batches = list(objective.batches())
    if context.world_size == 1:
        return batches
    out = []
    for x, y in batches:
        xs, ys = x.tensor_split(context.world_size), y.tensor_split(context.world_size)
        if xs[context.rank].shape[0]:
            out.append((xs[context.rank], ys[context.rank]))
    return out


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
        context: a distributed context (``landscape.distributed.current()``
            under torchrun): each rank then works on its rows of the data and
            the products are all-reduced, so every rank holds the same ``H v``.
            Default: a single process (never communicates).

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
        context: Context | None = None,
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
        self._graph: tuple[list[Tensor], list[Tensor]] | None = None
        self.context = context or Context()
        if check:
            self.loss, self.gradient = check_deterministic(
                objective, self.params, context=self.context
            )

    def __matmul__(self, v: Tensor) -> Tensor:
        """``H v`` for ``v`` of shape ``(n,)`` or ``(n, m)``, in ``v``'s dtype and device."""
        if v.dim() not in (1, 2) or v.shape[0] != self.shape[0]:
            raise LandscapeError(
                f"hessian: expected a vector of shape ({self.shape[0]},) or ({self.shape[0]}, m); "
                f"got {tuple(v.shape)}"
            )
        block = v.reshape(self.shape[0], -1).T.to(device=self.device, dtype=self.dtype)
        with double_backward_attention():
            out = torch.cat(
                [
                    self._block(block[i : i + self.max_vectors])
                    for i in range(0, block.shape[0], self.max_vectors)
                ]
            )
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
        batches = shard_batches(self.objective, self.context)
        for x, y in batches:

            def batch_grad(p: ParamDict, x: Tensor = x, y: Tensor = y) -> ParamDict:
                return grad(lambda q: self.objective.batch_loss_sum(q, x, y))(p)

            def hvp(t: ParamDict, batch_grad=batch_grad) -> ParamDict:
                return jvp(batch_grad, (self.params,), (t,))[1]

            if m == 1:
                graph = self._graph if len(batches) == 1 else None
                if graph is None:
                    graph = self._gradient_graph(x, y)
                    if len(batches) == 1:
                        self._graph = graph
                out = self._reverse_over_reverse(graph, {k: t[0] for k, t in tangents.items()})
            else:
                out = vmap(hvp)(tangents)
            acc += torch.cat([out[k].reshape(m, -1) for k in self.params], dim=1)
        self.context.all_reduce_sum(acc)
        self.num_matvecs += m
        return acc / self.objective.num_samples

    def _gradient_graph(self, x: Tensor, y: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Leaves and differentiable gradient of one batch's summed loss."""
        leaves = [t.detach().requires_grad_(True) for t in self.params.values()]
        p = dict(zip(self.params, leaves, strict=True))
        with torch.enable_grad():
            loss = self.objective.batch_loss_sum(p, x, y)
            g = torch.autograd.grad(loss, leaves, create_graph=True, materialize_grads=True)
        return leaves, list(g)

    def _reverse_over_reverse(
        self, graph: tuple[list[Tensor], list[Tensor]], v: ParamDict
    ) -> ParamDict:
        """``H_b v`` by a second backward through a gradient graph (Pearlmutter 1994).

        For one vector this measured 2-3x faster than an unbatched ``jvp`` on
        CPU. A single-batch objective keeps its gradient graph between
        products (as PyHessian does), so each product is one backward pass.
        """
        leaves, g = graph
        keys = list(self.params)
        live = [i for i, t in enumerate(g) if t.requires_grad]
        if not live:
            return {k: torch.zeros_like(t) for k, t in self.params.items()}
        with torch.enable_grad():
            hv = torch.autograd.grad(
                [g[i] for i in live],
                leaves,
                grad_outputs=[v[keys[i]] for i in live],
                retain_graph=True,
                materialize_grads=True,
            )
        return {k: t.detach() for k, t in zip(keys, hv, strict=True)}

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
