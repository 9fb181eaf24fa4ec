from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from landscape.data import Split


class TinyNet(nn.Module):
    """Conv + linear + bias, small enough for exact checks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 3, 3, padding=1)
        self.fc = nn.Linear(3 * 8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x.unsqueeze(1))).flatten(1))


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return TinyNet()


def tiny_data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(50, 8, generator=g)
    y = torch.randint(0, 4, (50,), generator=g)
    xt = torch.randn(23, 8, generator=g)
    yt = torch.randint(0, 4, (23,), generator=g)
    return {"train": (x, y), "test": (xt, yt)}


@pytest.fixture
def net() -> nn.Module:
    return tiny_net()


@pytest.fixture
def splits() -> dict[str, Split]:
    return {k: Split(*v) for k, v in tiny_data().items()}


@pytest.fixture
def ckpt(tmp_path: Path, net: nn.Module) -> Path:
    path = tmp_path / "ckpt.pt"
    torch.save(net.state_dict(), path)
    return path
