"""The ``surface/`` group and the root datasets named as in Li et al. 2018.

Layout of a landscape surface file (besides ``directions/``, see
:mod:`landscape.io.directions`)::

    xcoordinates, ycoordinates (2D only)    float64 grid coordinates
    train_loss, train_acc, test_loss, ...   one root dataset per metric, (nx,) or (ny, nx)
                                            indexed [iy, ix]; NaN = not computed;
                                            train_acc, test_acc in percent (Li et al.'s unit)
    train_loss_se, train_acc_se, train_rows  adaptive surfaces only: standard errors and
                                            rows used per point (see landscape.adaptive)
    surface/                                attrs: config (JSON), ndim, metrics (JSON list),
                                            origin (JSON: the metrics at the checkpoint);
                                            adaptive (True) and tolerance when adaptive
        done                                bool mask of computed points
        train_loss, ...                     hard links to the root datasets, except
        train_acc, test_acc                 fractions in [0, 1] (files made before
                                            the percent roots: hard links, fractions)

Files of the reference code of Li et al. are read too (see :mod:`landscape.io.li2018`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from landscape.errors import LandscapeError
from landscape.io import li2018
from landscape.io.directions import read_directions, write_directions
from landscape.records import Source, Surface
from landscape.store import atomic_update, config_json, open_read, read_array, read_coordinates

GROUP = "surface"
KNOWN_METRICS: tuple[str, ...] = ("train_loss", "train_acc", "test_loss", "test_acc")
"""Metric dataset names shared with the Li et al. code, in display order."""


def is_surface_file(f: h5py.File) -> bool:
    """Whether an open file holds a surface (an ``xcoordinates`` dataset at the root)."""
    return isinstance(f.get("xcoordinates"), h5py.Dataset)


def create_surface_file(
    path: Path,
    directions: tuple[str, Mapping[str, Any], Sequence[Mapping[str, np.ndarray]]],
    surface: Surface,
    *,
    command: str | None = None,
    tolerance: float | None = None,
) -> None:
    """Write a new surface file: directions, coordinates, metrics and the ``done`` mask.

    Args:
        path: the file, replaced as one transaction.
        directions: ``(kind, settings, vectors)`` for ``directions/``.
        surface: grid, (initial) values, done mask and ``config`` to store.
        command: the command line for the provenance of the new file.
        tolerance: an adaptive surface's tolerance, stored as the ``surface/`` attributes
            ``adaptive = True`` and ``tolerance`` (``None``: neither attribute is written).

    """
    with atomic_update(path, new=True, command=command) as f:
        write_directions(f, *directions)
        f.create_dataset("xcoordinates", data=np.asarray(surface.x, np.float64))
        if surface.y is not None:
            f.create_dataset("ycoordinates", data=np.asarray(surface.y, np.float64))
        g = f.create_group(GROUP)
        g.attrs["config"] = config_json(surface.config)
        g.attrs["ndim"] = surface.ndim
        g.attrs["metrics"] = config_json(list(surface.values))
        if tolerance is not None:
            g.attrs["adaptive"] = True
            g.attrs["tolerance"] = float(tolerance)
        g.create_dataset("done", data=surface.done)
        for name, arr in surface.values.items():
            f.create_dataset(name, data=li2018.in_their_units(name, arr))
            if name in li2018.PERCENT:
                g.create_dataset(name, data=arr)
            else:
                g[name] = f[name]


def write_values(path: Path, values: Mapping[str, np.ndarray], done: np.ndarray) -> None:
    """Overwrite the metrics and the ``done`` mask of an existing surface file (one transaction)."""
    with atomic_update(path) as f:
        for name, arr in values.items():
            f[f"{GROUP}/{name}"][...] = arr
            if f[name] != f[f"{GROUP}/{name}"]:  # a Li-named root in percent
                f[name][...] = li2018.in_their_units(name, arr)
        f[f"{GROUP}/done"][...] = done


def read_progress(
    path: Path, metrics: Sequence[str]
) -> tuple[dict[str, np.ndarray], np.ndarray, list[dict[str, np.ndarray]]]:
    """What a resumed run needs: the stored ``metrics``, the ``done`` mask and the directions."""
    with open_read(path) as f:
        done = read_array(f[GROUP], "done", kinds="b")
        values = {m: read_array(f[GROUP], m, shape=done.shape, kinds="f") for m in metrics}
        for m in metrics:  # the root copies are written on resume too (percent for accuracy)
            read_array(f, m, shape=done.shape, kinds="f")
        return values, done, read_directions(f)


def store_origin(path: Path, origin: Mapping[str, float]) -> None:
    """Store the metrics at the origin (JSON) unless the file holds them already.

    A re-run of a finished surface thus leaves its file as it was.
    """
    text = config_json(origin)
    with open_read(path) as f:
        if f[GROUP].attrs.get("origin") == text:
            return
    with atomic_update(path) as f:
        f[GROUP].attrs["origin"] = text


def read_surface(path: str | Path, *, with_vectors: bool = False) -> Surface:
    """Read a landscape or Li et al. surface file.

    Args:
        path: the HDF5 file.
        with_vectors: also read the directions themselves (a landscape file only).

    Returns:
        The coordinates, metrics (NaN = not computed, ``[iy, ix]``), done
        mask and provenance.

    Raises:
        LandscapeError: if the file is unreadable, holds no surface, a metric's
            shape does not match the coordinates, or (``with_vectors``) it was
            not written by ``landscape surface`` or holds the wrong number of directions.

    """
    path = Path(path)
    with open_read(path) as f:
        vectors = _vectors(path, f) if with_vectors else ()
        if not is_surface_file(f):
            raise LandscapeError(
                f"{path}: holds no surface (expected dataset 'xcoordinates'; "
                f"found {', '.join(sorted(f)) or 'nothing'})"
            )
        source: Source = "li2018" if li2018.is_li2018(f) else "landscape"
        x = read_coordinates(f, "xcoordinates")
        y = read_coordinates(f, "ycoordinates") if "ycoordinates" in f else None
        shape = (len(x),) if y is None else (len(y), len(x))
        names = _metric_names(f, shape, source)
        if not names:
            raise LandscapeError(f"{path}: holds coordinates but no metric of shape {shape}")
        values = {name: _read_metric(path, _metric(f, name), shape, source) for name in names}
        if source == "landscape" and isinstance(f.get(f"{GROUP}/done"), h5py.Dataset):
            done = np.asarray(f[f"{GROUP}/done"][()], dtype=bool)
            if done.shape != shape:
                raise LandscapeError(
                    f"{path}: surface/done has shape {done.shape}, expected {shape}"
                )
        else:
            done = np.logical_and.reduce([~np.isnan(v) for v in values.values()])
        group_attrs = f[GROUP].attrs if GROUP in f else {}
        directions = (
            {k: attr_value(v) for k, v in f["directions"].attrs.items()}
            if "directions" in f
            else {}
        )
        return Surface(
            x,
            y,
            values,
            done,
            origin=_json_attr(group_attrs.get("origin")),
            path=path,
            source=source,
            attrs={k: attr_value(v) for k, v in f.attrs.items()},
            config=_json_attr(group_attrs.get("config")),
            directions=directions,
            vectors=vectors,
        )


def _vectors(path: Path, f: h5py.File) -> tuple[dict[str, np.ndarray], ...]:
    if not is_surface_file(f) or "directions" not in f or GROUP not in f:
        raise LandscapeError(
            f"{path}: not a surface file (expected xcoordinates, directions/ and surface/)"
        )
    vectors = tuple(read_directions(f))
    ndim = 1 if "ycoordinates" not in f else 2
    if len(vectors) != ndim:
        raise LandscapeError(f"{path}: {len(vectors)} direction(s) stored for a {ndim}D grid")
    return vectors


def _metric_names(f: h5py.File, shape: tuple[int, ...], source: Source) -> list[str]:
    listed = f[GROUP].attrs.get("metrics") if GROUP in f else None
    if listed is not None:
        return [m for m in json.loads(listed) if m in f]
    accepted = li2018.accepted_shapes(shape) if source == "li2018" else {shape}
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


def _metric(f: h5py.File, name: str) -> h5py.Dataset:
    """Our own copy of a metric (``surface/name``, accuracy as a fraction) where there is one."""
    own = f.get(f"{GROUP}/{name}")
    return own if isinstance(own, h5py.Dataset) else f[name]


def _read_metric(
    path: Path, ds: h5py.Dataset, shape: tuple[int, ...], source: Source
) -> np.ndarray:
    z = np.asarray(ds[()], dtype=np.float64)
    if source == "li2018":
        z = li2018.decode(z, shape, name=ds.name.lstrip("/"))
    if z.shape != shape:
        raise LandscapeError(
            f"{path}: {ds.name.lstrip('/')} has shape {z.shape}, expected {shape} ([iy, ix])"
        )
    return z


def attr_value(value: Any) -> Any:
    """An HDF5 attribute as a plain Python value (text decoded, arrays as lists).

    >>> attr_value(np.float32(0.5)), attr_value(b"sgd"), attr_value(np.arange(2))
    (0.5, 'sgd', [0, 1])
    """
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _json_attr(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        parsed = json.loads(attr_value(value))
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
