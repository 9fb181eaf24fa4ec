"""Files written by the reference code of Li et al. 2018 (github tomgoldstein/loss-landscape).

Surface files. Theirs hold the same root dataset names as ours (``xcoordinates``,
``ycoordinates``, ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``)
but no attributes, no ``surface/`` group and ``-1`` for "not computed". Their
writer allocates an ``(nx, ny)`` array but fills it by a flat index over
``meshgrid(x, y)``, whose order is ``[iy, ix]``; a non-square array of that
shape is therefore read back by reinterpreting its flat order as ``(ny, nx)``,
which is what their writer meant. Their accuracies are percent (0-100, from
``evaluation.eval_loss``): ours are fractions in the API and in ``surface/``,
and the Li-named root datasets of our files (:data:`PERCENT`) are written in
percent, so their plotting code labels them right; theirs are read back as
fractions.

Direction files. ``net_plotter.setup_direction`` writes groups ``xdirection``
and (2D) ``ydirection``, each one dataset per parameter named ``0``, ``1``, ...
in ``model.parameters()`` order, with no names (``h5_util.write_list``); their
loader reads ``len(group)`` datasets in that order (``h5_util.read_list``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from landscape.errors import LandscapeError
from landscape.store import atomic_update, open_read

MISSING = -1.0
"""The value the Li et al. code stores for a point it has not computed."""

PERCENT: tuple[str, ...] = ("train_acc", "test_acc")
"""Their metric names whose values are percent in their files (and at our files' root)."""

AXES: tuple[str, ...] = ("xdirection", "ydirection")
"""The groups of a direction file, one per surface axis."""


def is_li2018(f: h5py.File) -> bool:
    """The one rule: a root ``xcoordinates`` dataset, no ``schema_version``, no ``surface/``."""
    return (
        isinstance(f.get("xcoordinates"), h5py.Dataset)
        and "schema_version" not in f.attrs
        and "surface" not in f
    )


def accepted_shapes(shape: tuple[int, ...]) -> set[tuple[int, ...]]:
    """Shapes their metric of a ``shape`` grid may have: ``(ny, nx)`` or their ``(nx, ny)``."""
    return {shape, shape[::-1]}


def decode(z: np.ndarray, shape: tuple[int, ...], *, name: str = "") -> np.ndarray:
    """Their stored metric ``name`` as ours: ``[iy, ix]``, NaN = not computed, accuracy a fraction.

    >>> decode(np.array([[1.0, 2.0, 3.0], [-1.0, 5.0, 6.0]]), (3, 2)).tolist()
    [[1.0, 2.0], [3.0, nan], [5.0, 6.0]]
    >>> decode(np.array([50.0, -1.0]), (2,), name="test_acc").tolist()
    [0.5, nan]
    """
    z = np.asarray(z, dtype=np.float64)
    if z.shape != shape and z.size == int(np.prod(shape)):
        z = z.reshape(shape)  # their (nx, ny) array is filled in [iy, ix] flat order
    z = np.where(z == MISSING, np.nan, z)
    return z / 100.0 if name in PERCENT else z


def in_their_units(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` of metric ``name`` as a Li-named root dataset stores them (accuracy in percent).

    >>> in_their_units("train_acc", np.array([0.25, np.nan])).tolist()
    [25.0, nan]
    >>> in_their_units("train_loss", np.array([0.25])).tolist()
    [0.25]
    """
    values = np.asarray(values)
    return values * 100.0 if name in PERCENT else values


def is_direction_file(f: h5py.File) -> bool:
    """Whether an open file is a direction file in their layout (a group ``xdirection`` of ``0``, ...)."""
    g = f.get("xdirection")
    return isinstance(g, h5py.Group) and "0" in g and "directions" not in f


def is_direction_path(path: str | Path) -> bool:
    """Whether ``path`` is a readable direction file in their layout (``False`` if unreadable)."""
    try:
        with open_read(path) as f:
            return is_direction_file(f)
    except LandscapeError:
        return False


def read_direction_file(path: str | Path) -> list[list[np.ndarray]]:
    """The directions of their direction file, one list of arrays per axis, in stored order.

    Raises:
        LandscapeError: if the file is unreadable, not in their layout, or an axis's
            datasets are not ``0 .. n-1``.

    """
    with open_read(path) as f:
        if not is_direction_file(f):
            raise LandscapeError(
                f"dirs: {path} is not a Li et al. direction file (expected a group "
                f"'xdirection' of datasets 0, 1, ...; found {', '.join(sorted(f)) or 'nothing'})"
            )
        out = []
        for axis in AXES:
            if axis not in f:
                break
            g = f[axis]
            names = sorted(g, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))
            if names != [str(i) for i in range(len(g))]:
                raise LandscapeError(
                    f"dirs: {path} {axis} should hold datasets 0..{len(g) - 1} (got {names})"
                )
            out.append([np.asarray(g[str(i)][()]) for i in range(len(g))])
        return out


def write_direction_file(
    path: str | Path, vectors: Sequence[Sequence[np.ndarray]], *, command: str | None = None
) -> None:
    """Write one or two directions in their layout (``xdirection``, ``ydirection``), as one transaction.

    Args:
        path: the new file (replaced as a whole).
        vectors: per axis, the arrays in ``model.parameters()`` order.
        command: the command line for the file's provenance attributes (which their
            loader ignores).

    """
    if not 1 <= len(vectors) <= len(AXES):
        raise LandscapeError(f"export: expected 1 or 2 directions (got {len(vectors)})")
    with atomic_update(path, new=True, command=command) as f:
        for axis, arrays in zip(AXES, vectors, strict=False):
            g = f.create_group(axis)
            for i, arr in enumerate(arrays):
                g.create_dataset(str(i), data=np.asarray(arr))


def export_directions(
    source: str | Path, out: str | Path, *, overwrite: bool = False, command: str | None = None
) -> list[list[str]]:
    """Write the directions of our file ``source`` as their direction file ``out``.

    Our directions are keyed by parameter name in the model's ``named_parameters()``
    order (the ``names`` attribute), which is the ``model.parameters()`` order their
    loader zips them with, so the arrays are written in that order as ``0, 1, ...``.

    Args:
        source: a landscape file with a ``directions/`` group (e.g. a surface).
        out: the direction file to write.
        overwrite: replace an existing ``out``.
        command: the command line for ``out``'s provenance.

    Returns:
        Per axis, the parameter names in the order written.

    Raises:
        LandscapeError: if ``source`` holds no directions, or ``out`` exists (without
            ``overwrite``) or is ``source``.

    """
    from landscape.io.directions import read_direction_file as read_ours

    if Path(out).resolve() == Path(source).resolve():
        raise LandscapeError(f"export: --out {out} is the source file; give another path")
    if Path(out).exists() and not overwrite:
        raise LandscapeError(f"export: {out} exists; pass --overwrite to replace it")
    ours = read_ours(source)
    if not ours:
        raise LandscapeError(f"export: {source} holds no directions")
    if len(ours) > len(AXES):
        raise LandscapeError(
            f"export: {source} holds {len(ours)} directions; their files hold 1 or 2"
        )
    write_direction_file(out, [list(d.values()) for d in ours], command=command)
    return [list(d) for d in ours]
