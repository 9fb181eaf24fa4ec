"""Attention kernels that can be differentiated twice, for Hessian-vector products.

``torch.nn.functional.scaled_dot_product_attention`` (behind
``torch.nn.MultiheadAttention``, ``TransformerEncoderLayer``, Hugging Face
``sdpa`` attention and timm's fused attention) picks a fused kernel (flash,
memory-efficient, cuDNN) whose backward has no derivative of its own, so a
second backward fails ("derivative for
aten::_scaled_dot_product_flash_attention_for_cpu_backward is not implemented").
The math kernel is written in differentiable operations and supports double
backward and forward-over-reverse; :func:`double_backward_attention` selects it
for whatever runs inside, and eager attention (plain matmul and softmax) is
unaffected. Surfaces (no gradients) keep the fast kernels.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from torch.nn.attention import SDPBackend, sdpa_kernel


def double_backward_attention() -> AbstractContextManager[None]:
    """Context in which scaled-dot-product attention uses the twice-differentiable math kernel.

    >>> import torch
    >>> q = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    >>> with double_backward_attention():
    ...     out = torch.nn.functional.scaled_dot_product_attention(q, q, q)
    ...     (g,) = torch.autograd.grad(out.sum(), q, create_graph=True)
    ...     (h,) = torch.autograd.grad(g.sum(), q)
    >>> h.shape
    torch.Size([1, 2, 3, 4])
    """
    return sdpa_kernel(SDPBackend.MATH)
