"""Small built-in models for MNIST-1D (40 inputs, 10 classes).

They are sized to train in seconds on a CPU so that the demo, the tests and
the benchmarks can compare optimizers and architectures end to end. The
ResNet comes with and without skip connections (Li et al. 2018 showed that
skips smooth the loss surface) and with optional BatchNorm.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """Fully connected ReLU network ``in -> hidden... -> out``.

    >>> MLP(40, 10, hidden=(32,))(torch.zeros(3, 40)).shape
    torch.Size([3, 10])
    """

    def __init__(
        self, in_features: int = 40, num_classes: int = 10, hidden: tuple[int, ...] = (100, 100)
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(N, in_features)`` inputs to ``(N, num_classes)`` logits."""
        return self.net(x.flatten(1))


class CNN1d(nn.Module):
    """Small 1-D convolutional network for sequences of length 40.

    >>> CNN1d()(torch.zeros(2, 40)).shape
    torch.Size([2, 10])
    """

    def __init__(self, length: int = 40, num_classes: int = 10, channels: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, padding=2),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(channels * ((length + 3) // 4), num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(N, length)`` or ``(N, 1, length)`` inputs to logits."""
        if x.dim() == 2:
            x = x.unsqueeze(1)
        return self.head(self.features(x).flatten(1))


class _Block(nn.Module):
    def __init__(self, channels: int, *, skip: bool, batchnorm: bool):
        super().__init__()
        self.skip = skip
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=1, bias=not batchnorm)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1, bias=not batchnorm)
        self.bn1: nn.Module = nn.BatchNorm1d(channels) if batchnorm else nn.Identity()
        self.bn2: nn.Module = nn.BatchNorm1d(channels) if batchnorm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + x if self.skip else out)


class ResNet1d(nn.Module):
    """A small residual 1-D CNN; ``skip=False`` gives the plain deep net of Li et al. 2018.

    >>> ResNet1d(skip=False, batchnorm=True)(torch.zeros(2, 40)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        channels: int = 16,
        blocks: int = 3,
        *,
        skip: bool = True,
        batchnorm: bool = False,
    ):
        super().__init__()
        self.stem = nn.Conv1d(1, channels, 5, padding=2)
        self.blocks = nn.Sequential(
            *[_Block(channels, skip=skip, batchnorm=batchnorm) for _ in range(blocks)]
        )
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(N, length)`` or ``(N, 1, length)`` inputs to logits."""
        if x.dim() == 2:
            x = x.unsqueeze(1)
        out = self.blocks(torch.relu(self.stem(x)))
        return self.head(out.mean(dim=-1))


MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP,
    "cnn": CNN1d,
    "resnet": ResNet1d,
    "resnet-noskip": lambda **kw: ResNet1d(skip=False, **kw),
    "resnet-bn": lambda **kw: ResNet1d(batchnorm=True, **kw),
    "resnet-noskip-bn": lambda **kw: ResNet1d(skip=False, batchnorm=True, **kw),
}
"""Built-in model names accepted wherever a model spec is."""
