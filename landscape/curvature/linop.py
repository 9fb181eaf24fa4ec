"""The matrix-like interface shared by the Hessian, its preconditioned form and dense tensors."""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor


class Operator(Protocol):
    """Anything symmetric with ``shape``, ``dtype``, ``device`` and ``@``.

    A dense ``torch.Tensor`` qualifies, so do
    :class:`~landscape.curvature.hvp.HessianLinearOperator` and :class:`DiagonalSandwich`.
    """

    shape: tuple[int, ...] | torch.Size
    dtype: torch.dtype
    device: torch.device

    def __matmul__(self, v: Tensor) -> Tensor:
        """Apply the operator to ``(n,)`` or ``(n, m)``."""
        ...


class DiagonalSandwich:
    """The operator ``D A D`` for a diagonal ``D = diag(d)``, never formed densely.

    With ``d = P^{-1/2}`` this is the preconditioned Hessian ``P^{-1/2} H P^{-1/2}``,
    which has the eigenvalues of ``P^{-1} H``.

    >>> A = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    >>> S = DiagonalSandwich(A, torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> (S @ torch.eye(2, dtype=torch.float64)).tolist()
    [[2.0, 2.0], [2.0, 8.0]]
    """

    def __init__(self, inner: Operator, diagonal: Tensor):
        self.inner = inner
        self.diagonal = diagonal.reshape(-1)
        self.shape = tuple(inner.shape)
        self.dtype = inner.dtype
        self.device = inner.device

    def __matmul__(self, v: Tensor) -> Tensor:
        """``D A D v``."""
        d = self.diagonal.to(device=v.device, dtype=v.dtype)
        d = d if v.dim() == 1 else d[:, None]
        return d * (self.inner @ (d * v).to(self.inner.dtype)).to(v.dtype)


class Progress:
    """Forward every product to ``inner`` and advance a progress bar by the number of vectors.

    ``bar`` is anything with ``update(n)`` (a ``tqdm`` bar). Other attributes
    (``gradient``, ``loss``, ``num_matvecs``) are read from ``inner``.
    """

    def __init__(self, inner: Operator, bar: Any):
        self.inner = inner
        self.bar = bar
        self.shape = tuple(inner.shape)
        self.dtype = inner.dtype
        self.device = inner.device

    def __matmul__(self, v: Tensor) -> Tensor:
        """``inner @ v``, counting ``v``'s columns."""
        out = self.inner @ v
        self.bar.update(1 if v.dim() == 1 else v.shape[1])
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
