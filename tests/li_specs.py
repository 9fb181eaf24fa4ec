"""The model and data behind the Li et al. fixtures (tests/fixtures/li2018/README.md).

Importable as specs: ``--model tests.li_specs:TinyLi --data tests.li_specs:li_data``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

LI = Path(__file__).resolve().parent / "fixtures" / "li2018"


class TinyLi(nn.Module):
    """``fc(relu(bn(conv(x))).flatten(1))`` on (N, 1, 8, 8) inputs, as the README names it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def _rows(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    w = torch.randn(64, 3, generator=g)
    return x, (x.flatten(1) @ w).argmax(1)


def li_data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Train n=256 (seed 1) and test n=128 (seed 2), as the fixtures were evaluated."""
    return {"train": _rows(256, 1), "test": _rows(128, 2)}
