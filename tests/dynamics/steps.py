"""One optimiser step, shared by the recorder tests."""

from __future__ import annotations

import torch
from torch import nn


def one_step(
    model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """One cross-entropy step of ``opt`` on the batch ``(x, y)``; returns the loss before it."""
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss
