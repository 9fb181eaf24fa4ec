"""The ``directions/`` group: the name-keyed directions a surface or trajectory was made along.

Layout: attributes ``kind`` (``random``, ``interp``, ``plane``, ``pca``,
``hessian`` or ``file``) and the settings that made them (scalars as they
are, anything else as JSON); one subgroup per direction, ``d0``, ``d1``, ...,
each a name-keyed vector laid out as :func:`landscape.store.write_params` does
(one dataset per parameter, their order in the ``names`` attribute). Each
non-scalar dataset is chunked and gzip-compressed with the shuffle filter
(both standard HDF5, read transparently by any HDF5 reader). Floating values
are stored in float32 (4 bytes a parameter; a float16 direction is widened,
exactly) unless they are float64, which is what a model loaded with
``--dtype float64`` asks for: those stay float64, so a surface made again from
the file with ``--dirs`` is the same surface. Either reads back exactly.
Directions are always listed in numeric order (``d2`` before ``d10``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from landscape.errors import LandscapeError
from landscape.store import config_json, open_read, read_params

GROUP = "directions"
_NAME = re.compile(r"d(\d+)")
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True, "chunks": True}
"""h5py dataset options of every non-scalar direction dataset."""


def write_directions(
    f: h5py.File,
    kind: str,
    attrs: Mapping[str, Any],
    vectors: Sequence[Mapping[str, np.ndarray]],
) -> None:
    """Create ``directions/`` in a new file: ``kind``, the settings, and ``d0``, ``d1``, ...

    Args:
        f: the open (new) file.
        kind: how the directions were made.
        attrs: settings to store with them (norm, seed, sources, ...).
        vectors: one name -> array dict per direction.

    """
    g = f.create_group(GROUP)
    g.attrs["kind"] = kind
    for key, val in attrs.items():
        g.attrs[key] = val if isinstance(val, (int, float, str, bool)) else config_json(val)
    for i, vec in enumerate(vectors):
        write_vector(g, f"d{i}", vec)


def stored_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a direction's values are stored in: float32 for floats except float64.

    >>> [str(stored_dtype(np.dtype(t))) for t in ("float16", "float32", "float64", "int64")]
    ['float32', 'float32', 'float64', 'int64']
    """
    if np.issubdtype(dtype, np.floating) and dtype != np.float64:
        return np.dtype(np.float32)
    return dtype


def write_vector(parent: h5py.Group, name: str, params: Mapping[str, np.ndarray]) -> h5py.Group:
    """Store one direction as :func:`landscape.store.write_params` does, compressed.

    Values are stored in :func:`stored_dtype`; scalars and empty arrays, which
    HDF5 cannot chunk, are stored plain.
    """
    g = parent.create_group(name)
    for k, v in params.items():
        arr = np.asarray(v)
        arr = arr.astype(stored_dtype(arr.dtype), copy=False)
        g.create_dataset(k, data=arr, **(COMPRESSION if arr.ndim and arr.size else {}))
    g.attrs["names"] = json.dumps(list(params))
    return g


def direction_names(group: h5py.Group) -> list[str]:
    """The direction subgroups ``d0``, ``d1``, ... of ``group`` in numeric order.

    >>> import h5py, tempfile, os
    >>> with h5py.File(os.path.join(tempfile.mkdtemp(), "d.h5"), "w") as f:
    ...     for k in ("d10", "d2", "d0", "data"):
    ...         _ = f.create_group(k)
    ...     direction_names(f)
    ['d0', 'd2', 'd10']
    """
    found = [(int(m.group(1)), k) for k in group if (m := _NAME.fullmatch(k))]
    return [k for _, k in sorted(found)]


def read_directions(f: h5py.File) -> list[dict[str, np.ndarray]]:
    """Every direction stored in ``directions/`` of an open file, ``d0`` first (``[]`` if none)."""
    if GROUP not in f:
        return []
    g = f[GROUP]
    return [read_params(g[k]) for k in direction_names(g)]


def read_direction_file(path: str | Path) -> list[dict[str, np.ndarray]]:
    """The directions of a landscape file, to reuse them for another surface.

    Raises:
        LandscapeError: if the file is unreadable or holds no ``directions/`` group.

    """
    with open_read(path) as f:
        if GROUP not in f:
            raise LandscapeError(f"dirs: {path} holds no '{GROUP}' group")
        return read_directions(f)
