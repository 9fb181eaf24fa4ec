"""Read a surface file into plain numpy arrays, without torch.

Two layouts are read:

* **landscape** files: root datasets ``xcoordinates``, ``ycoordinates`` (2D
  only) and metrics (``train_loss``, ``train_acc``, ``test_loss``,
  ``test_acc``, ...), a ``surface/`` group with a ``done`` mask, a JSON
  ``config`` and the ``metrics`` list, and a ``directions/`` group whose
  attributes say how the directions were made. NaN means "not computed".
* **Li et al. 2018** files (the reference ``loss-landscape`` code): the same
  root dataset names, no attributes, ``-1`` for "not computed". Their writer
  allocates a ``(nx, ny)`` array but fills it by a flat index over
  ``meshgrid(x, y)``, whose order is ``[iy, ix]``; a non-square array of that
  shape is therefore read back by reinterpreting its flat order as
  ``(ny, nx)``, which is what their writer meant.

Orientation everywhere: a 2D metric is indexed ``[iy, ix]`` (rows follow
``y``, columns follow ``x``), as ``contour(x, y, z)`` expects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from landscape.errors import LandscapeError
from landscape.store import open_read, read_coordinates

Source = Literal["landscape", "li2018"]
KNOWN_METRICS: tuple[str, ...] = ("train_loss", "train_acc", "test_loss", "test_acc")
"""Metric dataset names shared with the Li et al. code, in display order."""
LI_MISSING = -1.0
"""The value the Li et al. code stores for a point it has not computed."""


@dataclass(frozen=True)
class SurfaceData:
    """A surface as read from a file: coordinates, metrics and provenance.

    Attributes:
        path: the file read.
        x: x coordinates, shape ``(nx,)``.
        y: y coordinates, shape ``(ny,)``; ``None`` for a 1D surface.
        values: metric name -> array of shape ``(nx,)`` (1D) or ``(ny, nx)``
            (2D, indexed ``[iy, ix]``); NaN where not computed.
        done: boolean mask of computed points, same shape as the metrics.
        source: ``landscape`` or ``li2018`` (the reference implementation).
        attrs: root attributes (provenance); empty for Li et al. files.
        config: the ``surface/`` configuration; empty if absent.
        directions: attributes of ``directions/`` (kind, norm, seed, ...).

    """

    path: Path
    x: np.ndarray
    y: np.ndarray | None
    values: dict[str, np.ndarray]
    done: np.ndarray
    source: Source
    attrs: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    directions: dict[str, Any] = field(default_factory=dict)

    @property
    def ndim(self) -> int:
        """1 for a curve, 2 for a plane."""
        return 1 if self.y is None else 2

    @property
    def shape(self) -> tuple[int, ...]:
        """``(nx,)`` or ``(ny, nx)``."""
        return (len(self.x),) if self.y is None else (len(self.y), len(self.x))

    @property
    def metrics(self) -> list[str]:
        """Metric names in display order (known names first)."""
        return list(self.values)

    def metric(self, name: str | None = None) -> tuple[str, np.ndarray]:
        """Look up a metric by name; ``None`` picks ``train_loss`` or the first loss held.

        Raises:
            LandscapeError: if the file has no such metric.

        """
        if name is None:
            losses = [m for m in self.values if m.endswith("loss")]
            name = losses[0] if losses else next(iter(self.values))
        if name not in self.values:
            raise LandscapeError(
                f"{self.path}: no metric {name!r} (expected one of {', '.join(self.values)})"
            )
        return name, self.values[name]


def is_surface_file(f: h5py.File) -> bool:
    """Whether an open file holds a surface (an ``xcoordinates`` dataset at the root)."""
    return isinstance(f.get("xcoordinates"), h5py.Dataset)


def read_surface(path: str | Path) -> SurfaceData:
    """Read a landscape or Li et al. surface file.

    Args:
        path: the HDF5 file.

    Returns:
        The coordinates, metrics (NaN = not computed, ``[iy, ix]``), done
        mask and provenance.

    Raises:
        LandscapeError: if the file is unreadable, holds no surface, or a
            metric's shape does not match the coordinates.

    """
    path = Path(path)
    with open_read(path) as f:
        if not is_surface_file(f):
            raise LandscapeError(
                f"{path}: holds no surface (expected dataset 'xcoordinates'; "
                f"found {', '.join(sorted(f)) or 'nothing'})"
            )
        source: Source = "landscape" if "surface" in f or "schema_version" in f.attrs else "li2018"
        x = read_coordinates(f, "xcoordinates")
        y = read_coordinates(f, "ycoordinates") if "ycoordinates" in f else None
        shape = (len(x),) if y is None else (len(y), len(x))
        names = _metric_names(f, shape, source)
        if not names:
            raise LandscapeError(f"{path}: holds coordinates but no metric of shape {shape}")
        values = {name: _read_metric(path, f[name], shape, source) for name in names}
        if source == "landscape" and isinstance(f.get("surface/done"), h5py.Dataset):
            done = np.asarray(f["surface/done"][()], dtype=bool)
            if done.shape != shape:
                raise LandscapeError(
                    f"{path}: surface/done has shape {done.shape}, expected {shape}"
                )
        else:
            done = np.logical_and.reduce([~np.isnan(v) for v in values.values()])
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        config = _json_attr(f["surface"].attrs.get("config")) if "surface" in f else {}
        directions = (
            {k: _attr(v) for k, v in f["directions"].attrs.items()} if "directions" in f else {}
        )
    return SurfaceData(path, x, y, values, done, source, attrs, config, directions)


def _metric_names(f: h5py.File, shape: tuple[int, ...], source: Source) -> list[str]:
    listed = f["surface"].attrs.get("metrics") if "surface" in f else None
    if listed is not None:
        return [m for m in json.loads(listed) if m in f]
    accepted = {shape, shape[::-1]} if source == "li2018" else {shape}
    found = [
        k
        for k, v in f.items()
        if isinstance(v, h5py.Dataset)
        and k not in ("xcoordinates", "ycoordinates")
        and v.shape in accepted
        and np.issubdtype(v.dtype, np.number)
    ]
    return [m for m in KNOWN_METRICS if m in found] + sorted(
        m for m in found if m not in KNOWN_METRICS
    )


def _read_metric(
    path: Path, ds: h5py.Dataset, shape: tuple[int, ...], source: Source
) -> np.ndarray:
    z = np.asarray(ds[()], dtype=np.float64)
    if source == "li2018":
        if z.shape != shape and z.size == int(np.prod(shape)):
            z = z.reshape(shape)  # their (nx, ny) array is filled in [iy, ix] flat order
        z = np.where(z == LI_MISSING, np.nan, z)
    if z.shape != shape:
        raise LandscapeError(
            f"{path}: {ds.name.lstrip('/')} has shape {z.shape}, expected {shape} ([iy, ix])"
        )
    return z


def _attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _json_attr(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        parsed = json.loads(_attr(value))
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
