"""The model and data of ``fault_injection.py``: specs ``scripts/fault_model.py:tiny_net``, ``:tiny_data``.

Kept apart from the scripts that import each other, so that ``landscape`` loads
this file by its path alone.
"""

from __future__ import annotations

import torch
from torch import nn


def tiny_net() -> nn.Module:
    """A small MLP (the model spec ``scripts/fault_model.py:tiny_net``)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 5))


def tiny_data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Fixed random data with train and test splits."""
    g = torch.Generator().manual_seed(1)
    return {
        "train": (torch.randn(2000, 16, generator=g), torch.randint(0, 5, (2000,), generator=g)),
        "test": (torch.randn(500, 16, generator=g), torch.randint(0, 5, (500,), generator=g)),
    }
