"""landscape: loss surfaces, curvature and training dynamics of PyTorch checkpoints.

>>> import landscape
>>> callable(landscape.surface)
True
"""

from landscape.errors import LandscapeError
from landscape.surface import Surface, compute_surface
from landscape.api import surface  # noqa: I001  (binds ``landscape.surface`` to the function, after the module)

__all__ = ["LandscapeError", "Surface", "compute_surface", "surface"]
