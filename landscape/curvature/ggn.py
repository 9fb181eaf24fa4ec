"""The generalized Gauss-Newton matrix ``G = (1/N) sum_i J_iᵀ H_i J_i``, matrix-free.

``J_i = ∂f(x_i; w)/∂w`` is the Jacobian of the model's output for row ``i``
and ``H_i = ∇²_f l(f, y_i)`` the Hessian of the loss in the output (Schraudolph
2002; Martens 2020, "New insights and perspectives on the natural gradient
method", Sec. 8). ``G`` is positive semi-definite for a convex loss, equals
the Hessian for a model linear in ``w``, and drops the Hessian's term
``sum_c ∂l/∂f_c ∇²f_c``. A product is forward-mode ``u = J v``
(``torch.func.jvp``), the output-space product ``H u`` and reverse-mode
``Jᵀ (H u)`` (``torch.func.vjp``), vmapped over a block of vectors.
:class:`OutputSpaceOperator` is that ``Jᵀ M J`` skeleton; the Fisher
operators (:mod:`landscape.curvature.fisher`) put other ``M`` in it.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from torch import Tensor
from torch.func import grad, jvp, vjp, vmap

from landscape.curvature.operator import BatchObjective, CurvatureLinearOperator
from landscape.params import ParamDict


class OutputObjective(BatchObjective, Protocol):
    """An objective that exposes its model output and its summed loss of outputs."""

    loss_spec: str

    def forward(self, params: ParamDict, x: Tensor) -> Tensor:
        """The model's output for ``x`` at ``params`` (differentiable)."""
        ...

    def loss_sum(self, out: Tensor, y: Tensor) -> Tensor:
        """The loss of outputs ``out`` against targets ``y``, summed over rows."""
        ...


class OutputSpaceOperator(CurvatureLinearOperator):
    """``C = (1/N) sum_b J_bᵀ M_b J_b`` for a symmetric output-space matrix ``M_b`` per batch.

    A subclass gives ``M_b u`` (:meth:`_output_products`); arguments and
    attributes are those of
    :class:`~landscape.curvature.operator.CurvatureLinearOperator`, with an
    :class:`OutputObjective`.
    """

    objective: OutputObjective

    def _batch_products(
        self, b: int, x: Tensor, y: Tensor, tangents: ParamDict, *, single: bool
    ) -> ParamDict:
        """``J_bᵀ M_b J_b t`` for each stacked tangent ``t``."""

        def f(p: ParamDict) -> Tensor:
            return self.objective.forward(p, x)

        out, pullback = vjp(f, self.params)
        ju = vmap(lambda t: jvp(f, (self.params,), (t,))[1])(tangents)
        mju = self._output_products(b, out.detach(), y, ju)
        return vmap(pullback)(mju)[0]

    @abstractmethod
    def _output_products(self, b: int, out: Tensor, y: Tensor, u: Tensor) -> Tensor:
        """``M_b u`` for ``m`` stacked output-space vectors ``u`` of shape ``(m, *out.shape)``.

        Args:
            b: the batch's index in the full pass.
            out: the model's output on this rank's rows of the batch.
            y: their targets.
            u: ``(m, *out.shape)`` output-space vectors.

        """


class GGNLinearOperator(OutputSpaceOperator):
    """The generalized Gauss-Newton matrix ``G = (1/N) sum_i J_iᵀ ∇²_f l_i J_i`` of an objective.

    For cross-entropy ``∇²_f l = diag(p) - p pᵀ`` (``p = softmax(f)``); for the
    summed squared error ``2 I``, so ``G = (2/N) sum_i J_iᵀ J_i``. Any loss the
    objective has works: ``∇²_f l u`` is a ``jvp`` of its output gradient.

    Example:
        >>> import torch
        >>> from landscape.data import Split
        >>> from landscape.objective import Objective
        >>> obj = Objective(torch.nn.Linear(2, 1, bias=False),
        ...                 Split(torch.eye(2), torch.zeros(2, 1)), loss="mse")
        >>> G = GGNLinearOperator(obj, {"weight": torch.ones(1, 2)})
        >>> (G @ torch.tensor([1.0, 0.0])).tolist()   # linear model: G = H = I
        [1.0, 0.0]

    """

    name = "ggn"

    def _output_products(self, b: int, out: Tensor, y: Tensor, u: Tensor) -> Tensor:
        """``∇²_f (sum_i l_i) u`` by forward-over-reverse in the output."""

        def output_grad(o: Tensor) -> Tensor:
            return grad(lambda q: self.objective.loss_sum(q, y))(o)

        return vmap(lambda v: jvp(output_grad, (out,), (v,))[1])(u)
