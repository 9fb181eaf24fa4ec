"""Checks on what a ``run.h5`` holds before it is used: a crafted file gets one clear line.

A run file received from someone may hold anything: attributes that are not
JSON (or not UTF-8), tables whose columns are strings, of the wrong rank or of
unequal lengths, key columns (``epoch``, ``step``) that are NaN. Each reader
below returns what a well-formed file holds or raises a
:class:`~landscape.errors.LandscapeError` naming the file, the object and what
was expected. NaN in a measured column (a loss) is a legitimate record of a
diverged run and is kept. h5py and numpy only.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import h5py
import numpy as np

from landscape.errors import LandscapeError
from landscape.store import read_array

PER_LAYER_COLUMNS = frozenset(
    {
        "layer_grad_norm",
        "weight_norm",
        "update_ratio",
        "eff_step_p10",
        "eff_step_p50",
        "eff_step_p90",
    }
)
"""Epoch columns with one value per layer: shape ``(rows, len(layers))``."""

KEY_COLUMNS = ("epoch", "step")
"""Columns that number the rows: finite whole numbers, never decreasing."""


def text_attr(obj: h5py.HLObject, name: str) -> str | None:
    """Attribute ``name`` of ``obj`` as text (``None`` when absent).

    Raises:
        LandscapeError: if it is not a string or not valid UTF-8.

    """
    where = f"{obj.file.filename}: {obj.name.rstrip('/')}/@{name}"
    try:
        value = obj.attrs.get(name)
    except (OSError, UnicodeDecodeError, TypeError) as exc:
        raise LandscapeError(
            f"{where} cannot be read ({type(exc).__name__}); expected text"
        ) from exc
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise LandscapeError(f"{where} is not valid UTF-8 (damaged or crafted?)") from None
    if not isinstance(value, str):
        raise LandscapeError(f"{where} is {type(value).__name__}; expected text")
    return value


def json_attr(obj: h5py.HLObject, name: str, default: Any, kind: type) -> Any:
    """Attribute ``name`` of ``obj`` parsed as JSON of type ``kind`` (``default`` when absent).

    Raises:
        LandscapeError: if it is not UTF-8 text, not JSON, or not a ``kind``.

    """
    text = text_attr(obj, name)
    if text is None:
        return default
    where = f"{obj.file.filename}: {obj.name.rstrip('/')}/@{name}"
    try:
        value = json.loads(text)
    except ValueError:
        raise LandscapeError(f"{where} is not JSON (damaged or crafted?)") from None
    if not isinstance(value, kind):
        raise LandscapeError(
            f"{where} is a JSON {type(value).__name__}; expected a {kind.__name__}"
        )
    return value


def layer_shapes(
    group: h5py.Group, layers: list[Any], shapes: list[Any]
) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """The run's layer names and shapes, checked to be strings and lists of whole numbers."""
    where = f"{group.file.filename}: {group.name}"
    if not all(isinstance(n, str) for n in layers):
        raise LandscapeError(f"{where}/@layers must list layer names (strings)")
    if len(shapes) != len(layers) or not all(
        isinstance(s, list) and all(type(d) is int and d >= 0 for d in s) for s in shapes
    ):
        raise LandscapeError(
            f"{where}/@shapes must hold one list of whole numbers per layer ({len(layers)})"
        )
    return tuple(layers), tuple(tuple(s) for s in shapes)


def read_table(group: h5py.Group, name: str, layers: int) -> dict[str, np.ndarray]:
    """Table ``name`` of ``group`` (one array per column), checked column by column.

    Every column is a real-valued dataset with one row per record, all of one
    length; per-layer columns are ``(rows, layers)``, the others 1-D; key
    columns hold finite, non-decreasing numbers.

    Raises:
        LandscapeError: naming the file and the first column that is wrong.

    """
    if name not in group:
        return {}
    table = group[name]
    where = f"{group.file.filename}: {table.name}"
    if not isinstance(table, h5py.Group):
        raise LandscapeError(f"{where} is not a group; expected one dataset per column")
    columns = {k: read_array(table, k, kinds="fiub") for k in table}
    lengths = {k: v.shape[0] if v.ndim else -1 for k, v in columns.items()}
    rows = Counter(lengths.values()).most_common(1)[0][0] if lengths else 0
    odd = sorted(k for k, n in lengths.items() if n != rows)
    if odd:
        raise LandscapeError(
            f"{where}/{odd[0]} has {lengths[odd[0]]} rows, the table's other columns {rows}; "
            "expected one row per record"
        )
    for k, v in columns.items():
        expected = (len(v), layers) if k in PER_LAYER_COLUMNS and v.ndim else v.shape[:1]
        if v.ndim == 0 or v.shape != expected:
            raise LandscapeError(f"{where}/{k} has shape {v.shape}; expected {expected}")
        if k in KEY_COLUMNS and (not np.isfinite(v).all() or np.any(np.diff(v) < 0)):
            raise LandscapeError(f"{where}/{k} must hold finite, non-decreasing numbers")
    return columns
