"""What ``landscape info FILE`` prints: what an HDF5 file holds and how it was made.

For any landscape file and for Li et al. ``loss-landscape`` files: a summary
of the surface (grid, points done of total, NaN or ``-1`` counts, value
ranges), the provenance (root attributes, package versions, the command),
every group's configuration pretty-printed, and the tree of datasets with
shapes and types. Name-keyed vectors (directions, eigenvectors, checkpoints of
a trajectory) are summarised as one line each unless ``verbose``.
:func:`contents` says which results a file holds (for ``landscape plot``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from landscape.io.li2018 import MISSING, is_li2018
from landscape.io.run import GROUP as RUN_GROUP
from landscape.io.run import read_run_file
from landscape.io.surface import KNOWN_METRICS, attr_value, is_surface_file
from landscape.store import open_read

SCAN_LIMIT = 20_000_000
"""Datasets with more elements than this are listed but not scanned for NaN."""
INDENT = "  "
LIST_LIMIT = 8
"""Lists in configurations longer than this are shown by their ends."""


def describe(path: Path, *, verbose: bool = False) -> str:
    """Build the report ``landscape info`` prints for ``path``.

    Raises:
        LandscapeError: if the file is missing or not HDF5, or a run file
            holds what a run cannot (:func:`landscape.io.run.read_run_file`).

    """
    with open_read(path) as f:
        if RUN_GROUP in f:
            read_run_file(path)  # what plot, diagnose and compare would refuse, info refuses too
        li = is_li2018(f)
        lines = [
            f"{path}: "
            + (
                "Li et al. 2018 loss-landscape file (-1 = not computed, no provenance)"
                if li
                else f"landscape file, schema {attr_value(f.attrs.get('schema_version', '?'))}"
            )
        ]
        if "xcoordinates" in f:
            lines += ["", "surface:", *_surface_summary(f, li)]
        provenance = [(k, v) for k, v in f.attrs.items()]
        if provenance:
            lines += ["", "how it was made:"]
            lines += [line for k, v in provenance for line in _attr_lines(k, v, INDENT)]
        lines += ["", "contents:"]
        lines += _tree(f, INDENT, verbose=verbose)
    return "\n".join(lines)


def _surface_summary(f: h5py.File, li: bool) -> list[str]:
    x = np.asarray(f["xcoordinates"][()]).reshape(-1)
    y = np.asarray(f["ycoordinates"][()]).reshape(-1) if "ycoordinates" in f else None
    grid = [f"x: {len(x)} points from {x.min():.4g} to {x.max():.4g}"] if x.size else ["x: empty"]
    if y is not None and y.size:
        grid.append(f"y: {len(y)} points from {y.min():.4g} to {y.max():.4g}")
    shape = (len(x),) if y is None else (len(y), len(x))
    total = int(np.prod(shape))
    lines = [f"{INDENT}{'1D' if y is None else '2D'}, {'; '.join(grid)}"]
    if isinstance(f.get("surface/done"), h5py.Dataset):
        done = int(np.count_nonzero(f["surface/done"][()]))
        lines.append(
            f"{INDENT}{done} of {total} points done"
            + ("" if done == total else f", {total - done} to go")
        )
    lines += _adaptive_lines(f)
    order = {m: i for i, m in enumerate(KNOWN_METRICS)}
    for name in sorted(f, key=lambda k: (order.get(k, len(order)), k)):
        ds = f[name]
        if not isinstance(ds, h5py.Dataset) or name in ("xcoordinates", "ycoordinates"):
            continue
        if ds.size != total or not np.issubdtype(ds.dtype, np.floating):
            continue
        z = np.asarray(ds[()], dtype=np.float64)
        missing = np.isnan(z) | (z == MISSING) if li else np.isnan(z)
        finite = z[~missing & np.isfinite(z)]
        span = (
            f"min {finite.min():.4g}, max {finite.max():.4g}" if finite.size else "nothing computed"
        )
        what = "-1 (not computed)" if li else "NaN"
        lines.append(f"{INDENT}{name}: {int(missing.sum())} {what} of {total}; {span}")
    return lines


def _adaptive_lines(f: h5py.File) -> list[str]:
    """An adaptive surface's tolerance and rows used per point (min/median/max of the done)."""
    group = f.get("surface")
    if not isinstance(group, h5py.Group) or not group.attrs.get("adaptive", False):
        return []
    lines = [f"{INDENT}adaptive: tolerance {float(group.attrs['tolerance']):.4g} (95% half-width)"]
    for name in sorted(k for k in f if k.endswith("_rows") and isinstance(f[k], h5py.Dataset)):
        rows = np.asarray(f[name][()], dtype=np.float64)
        rows = rows[np.isfinite(rows)]
        split = name.removesuffix("_rows")
        used = (
            f"min {rows.min():.0f}, median {np.median(rows):.0f}, max {rows.max():.0f}"
            if rows.size
            else "nothing computed"
        )
        lines.append(f"{INDENT}{split} rows used per point: {used}")
    return lines


def _tree(group: h5py.Group, indent: str, *, verbose: bool) -> list[str]:
    lines = []
    for name, item in group.items():
        if item is None:  # a soft link to nothing
            lines.append(f"{indent}{name}  -> {group.get(name, getlink=True).path} (missing)")
            continue
        if isinstance(item, h5py.Dataset):
            lines.append(f"{indent}{name}  {_dataset_line(item)}")
            continue
        if "names" in item.attrs and not verbose:
            sizes = [v.size for v in item.values() if isinstance(v, h5py.Dataset)]
            lines.append(
                f"{indent}{name}/  {len(sizes)} named tensors, "
                f"{sum(sizes):,} values (-v lists them)"
            )
            continue
        lines.append(f"{indent}{name}/")
        lines += [
            line
            for k, v in item.attrs.items()
            if k != "names"
            for line in _attr_lines(k, v, indent + INDENT)
        ]
        lines += _tree(item, indent + INDENT, verbose=verbose)
    return lines


def _dataset_line(ds: h5py.Dataset) -> str:
    text = f"{ds.dtype} {ds.shape}"
    if ds.size == 0 or ds.size > SCAN_LIMIT:
        return text + ("" if ds.size == 0 else "  (not scanned)")
    if ds.dtype == bool:
        return text + f"  {int(np.count_nonzero(ds[()]))} true"
    if np.issubdtype(ds.dtype, np.floating):
        nan = int(np.isnan(ds[()]).sum())
        return text + (f"  {nan} NaN" if nan else "")
    if ds.shape == ():
        return text + f"  = {attr_value(ds[()])!r}"
    return text


def _attr_lines(key: str, value: Any, indent: str) -> list[str]:
    text = attr_value(value)
    try:
        parsed = json.loads(text) if isinstance(text, str) and text[:1] in "{[" else None
    except ValueError:
        parsed = None
    if parsed is None:
        return [f"{indent}{key}: {text}"]
    return _pretty(key, parsed, indent)


def _pretty(key: str, value: Any, indent: str) -> list[str]:
    """Lay out parsed JSON as indented ``key: value`` lines, long lists shortened.

    >>> _pretty("config", {"x": list(range(20)), "grid": {"n": 3}}, "")
    ['config:', '  grid:', '    n: 3', '  x: [0, 1, 2, ..., 18, 19] (20 values)']
    """
    if isinstance(value, dict) and value:
        return [f"{indent}{key}:"] + [
            line for k in sorted(value) for line in _pretty(str(k), value[k], indent + INDENT)
        ]
    if isinstance(value, list) and len(value) > LIST_LIMIT:
        shown = [*map(_short, value[:3]), "...", *map(_short, value[-2:])]
        return [f"{indent}{key}: [{', '.join(shown)}] ({len(value)} values)"]
    if isinstance(value, list):
        return [f"{indent}{key}: [{', '.join(map(_short, value))}]"]
    return [f"{indent}{key}: {_short(value)}"]


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "null" if value is None else str(value)


@dataclass(frozen=True)
class Contents:
    """Which results a file holds.

    Attributes:
        groups: its top-level names (groups and datasets), sorted.
        surface_ndim: 1 or 2 for a surface file (ours or Li et al.'s), else ``None``.

    """

    groups: tuple[str, ...]
    surface_ndim: int | None


def contents(path: Path) -> Contents:
    """Which results ``path`` holds.

    Raises:
        LandscapeError: if the file is missing or not HDF5.

    """
    with open_read(path) as f:
        ndim = (2 if "ycoordinates" in f else 1) if is_surface_file(f) else None
        return Contents(tuple(sorted(f)), ndim)
