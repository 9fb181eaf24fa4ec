"""Turn a device name into a ``torch.device``: the one rule every command and API uses."""

from __future__ import annotations

import torch

from landscape.errors import LandscapeError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else as given.

    Args:
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` (or a ``torch.device``).

    Raises:
        LandscapeError: if CUDA is requested but absent, or the name is not a device.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LandscapeError(f"device: {device!r} requested but CUDA is not available")
    try:
        return torch.device(device)
    except RuntimeError:
        raise LandscapeError(
            f"device: expected auto, cpu, cuda or cuda:N (got {device!r})"
        ) from None
