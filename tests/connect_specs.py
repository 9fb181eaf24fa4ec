"""Tiny models, data and quickly trained checkpoints for the ``connect`` tests.

Importable as specs (``tests.connect_specs:mlp``, ``tests.connect_specs:data``) by the CLI.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from landscape.models import CNN1d, ResNet1d

FEATURES, CLASSES = 16, 3


def data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """A nonlinear 3-class problem: the class is the sign pattern of two random projections."""
    g = torch.Generator().manual_seed(7)
    proj = torch.randn(FEATURES, 2, generator=g)

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, FEATURES, generator=g)
        z = x @ proj
        y = (z[:, 0] > 0).long() + (z[:, 0] * z[:, 1] > 0).long()
        return x, y

    return {"train": make(240), "test": make(97)}


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(FEATURES, 24), nn.ReLU(), nn.Linear(24, 24), nn.ReLU(), nn.Linear(24, CLASSES)
    )


def mlp_bn() -> nn.Module:
    return nn.Sequential(
        nn.Linear(FEATURES, 12),
        nn.BatchNorm1d(12),
        nn.ReLU(),
        nn.Linear(12, 12),
        nn.BatchNorm1d(12),
        nn.ReLU(),
        nn.Linear(12, CLASSES),
    )


def cnn() -> nn.Module:
    return CNN1d(length=FEATURES, num_classes=CLASSES, channels=5)


def resnet_bn() -> nn.Module:
    return ResNet1d(num_classes=CLASSES, channels=5, blocks=2, batchnorm=True)


def linear() -> nn.Module:
    return nn.Linear(FEATURES, CLASSES)


class Concat(nn.Module):
    """Two branches joined by ``torch.cat``, which alignment does not support."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(FEATURES, 4), nn.Linear(FEATURES, 4)
        self.head = nn.Linear(8, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(torch.cat([self.a(x), self.b(x)], dim=1)))


def concat() -> nn.Module:
    return Concat()


class OneThread:
    """Run torch on one thread (tiny models on a shared machine are fastest that way)."""

    def __enter__(self) -> None:
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.threads)


def trained(factory, seed: int, path: Path, *, steps: int = 150) -> Path:
    """Train ``factory()`` from seed ``seed`` with full-batch Adam and save its state dict."""
    torch.manual_seed(seed)
    model = factory()
    x, y = data()["train"]
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    torch.save(model.state_dict(), path)
    return path
