"""Records of surfaces and optimizer paths on a plane."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from landscape.errors import LandscapeError

Source = Literal["landscape", "li2018"]
"""Who wrote a surface file: landscape, or the reference code of Li et al. 2018."""


@dataclass(frozen=True)
class Surface:
    """A (possibly partial) loss surface on a 1D or 2D grid.

    Attributes:
        x: coordinates along the first direction, shape ``(nx,)``.
        y: coordinates along the second direction, shape ``(ny,)``; ``None`` for 1D.
        values: metric name (``train_loss``, ``train_acc``, ``test_loss``,
            ``test_acc``, ...) -> array of shape ``(nx,)`` or ``(ny, nx)``
            (indexed ``[iy, ix]``); NaN where not computed or not finite.
        done: which points are computed, same shape as the values.
        origin: metric name -> value at the reference point (the checkpoint itself).
        path: the HDF5 file it lives in, if any.
        source: ``landscape`` or ``li2018`` (the reference implementation).
        attrs: root attributes of the file (provenance); empty for Li et al. files.
        config: the ``surface/`` configuration; empty if absent.
        directions: attributes of ``directions/`` (kind, norm, seed, ...).
        vectors: the name-keyed directions themselves, when they were asked for.

    """

    x: np.ndarray
    y: np.ndarray | None
    values: dict[str, np.ndarray]
    done: np.ndarray
    origin: dict[str, float] = field(default_factory=dict)
    path: Path | None = None
    source: Source = "landscape"
    attrs: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    directions: dict[str, Any] = field(default_factory=dict)
    vectors: tuple[dict[str, np.ndarray], ...] = ()

    @property
    def ndim(self) -> int:
        """1 for a curve, 2 for a plane."""
        return 1 if self.y is None else 2

    @property
    def shape(self) -> tuple[int, ...]:
        """``(nx,)`` for 1D, ``(ny, nx)`` for 2D."""
        return (len(self.x),) if self.y is None else (len(self.y), len(self.x))

    @property
    def complete(self) -> bool:
        """Whether every point has been computed."""
        return bool(self.done.all())

    @property
    def metrics(self) -> list[str]:
        """Metric names in display order (known names first)."""
        return list(self.values)

    def metric(self, name: str | None = None) -> tuple[str, np.ndarray]:
        """Look up a metric by name; ``None`` picks ``train_loss`` or the first loss held.

        Raises:
            LandscapeError: if the surface has no such metric.

        """
        if name is None:
            losses = [m for m in self.values if m.endswith("loss")]
            name = losses[0] if losses else next(iter(self.values))
        if name not in self.values:
            raise LandscapeError(
                f"{self.path}: no metric {name!r} (expected one of {', '.join(self.values)})"
            )
        return name, self.values[name]

    def coordinates(self, index: tuple[int, ...]) -> list[float]:
        """Grid coordinates of an array index (``(ix,)`` or ``(iy, ix)``).

        >>> s = Surface(np.array([0.0, 1.0]), np.array([5.0, 6.0, 7.0]), {}, np.zeros((3, 2)))
        >>> s.coordinates((2, 1))
        [1.0, 7.0]
        """
        if self.y is None:
            return [float(self.x[index[0]])]
        return [float(self.x[index[1]]), float(self.y[index[0]])]


@dataclass(frozen=True)
class Trajectory:
    """Checkpoints of one or several runs projected onto a plane.

    Attributes:
        coords: ``(n, 2)`` plane coordinates of every checkpoint.
        epochs: ``(n,)`` epoch of each checkpoint (-1 if unknown).
        steps: ``(n,)`` optimizer step of each checkpoint (-1 if unknown).
        run: ``(n,)`` index into ``labels`` of the run each point belongs to.
        labels: run names.
        residual: ``(n,)`` relative distance of each checkpoint from the plane,
            ``||x - proj(x)|| / ||x||`` with ``x = theta - origin`` (0 on the plane).
        explained_variance_ratio: of the plane's two directions.
        origin_label: the run whose end is the origin.
        lambda_max: ``(n,)`` top Hessian eigenvalue at each checkpoint (NaN where
            not computed), when measured (``landscape compare``).
        surface: a surface file of the training loss on the plane (relative to
            the file holding the trajectory), if one was computed separately.

    """

    coords: np.ndarray
    epochs: np.ndarray
    steps: np.ndarray
    run: np.ndarray
    labels: tuple[str, ...]
    residual: np.ndarray
    explained_variance_ratio: np.ndarray
    origin_label: str
    lambda_max: np.ndarray | None = None
    surface: str | None = None
