"""landscape: loss surfaces, curvature and training dynamics of PyTorch checkpoints.

The public names are loaded on first use (PEP 562), so that importing a
torch-free part of the package (``landscape.plotting``, ``landscape.store``)
does not import torch.

>>> import landscape
>>> callable(landscape.surface)
True
"""

from __future__ import annotations

import importlib
from typing import Any

from landscape.errors import LandscapeError

_EXPORTS = {
    "surface": "landscape.pipelines.surface",
    "Surface": "landscape.records",
    "compute_surface": "landscape.engine",
    "Recorder": "landscape.dynamics.recorder",
}

__all__ = ["LandscapeError", "Recorder", "Surface", "compute_surface", "surface"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")
