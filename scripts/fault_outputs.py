"""Compare a killed-and-resumed command's outputs with an uninterrupted run's, file by file.

Every HDF5 file under an output (a file or a folder) is compared dataset by
dataset and attribute by attribute, every ``.pt`` checkpoint tensor by tensor
(model, optimizer state, probe warm start: the whole saved object). Paths that
differ only because the two runs wrote to different folders are made equal
first (``ref_dir`` is read as ``got_dir`` in every string).

A *partial* comparison (after a kill, before the resume) checks what is on
disk so far: a file, group, dataset, attribute or checkpoint not written yet
is fine, a dataset holding fewer rows must hold the reference's first rows, a
not-yet-computed float (NaN) or ``done`` flag (False) is fine; every value
already stored must equal the reference's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

PROVENANCE = ("created", "command", "package_versions")
"""Root attributes that say when and how a file was made, not what it holds."""


def output_files(out: Path, suffix: str) -> list[Path]:
    """The files named ``*suffix`` of an output (the output itself when it is a file).

    A writer's private temporaries (``NAME.tmp-PID-XXXX/``) are not part of the
    output: they are never read, and the next writer removes them.
    """
    if out.is_file():
        return [out] if out.name.endswith(suffix) else []
    found = sorted(out.rglob(f"*{suffix}")) if out.is_dir() else []
    return [p for p in found if not any(".tmp-" in part for part in p.relative_to(out).parts)]


def compare_outputs(ref: Path, got: Path, partial: bool) -> list[str]:
    """What differs between output ``got`` and reference output ``ref`` (empty: equal)."""
    bad: list[str] = []
    fix = _PathFix(ref, got)
    for suffix, compare in ((".h5", _compare_h5), (".pt", _compare_pt)):
        ours = {_rel(p, got): p for p in output_files(got, suffix)}
        theirs = {_rel(p, ref): p for p in output_files(ref, suffix)}
        for name in sorted(set(ours) - set(theirs)):
            bad.append(f"{name}: not in the uninterrupted run's output")
        for name, path in sorted(theirs.items()):
            if name not in ours:
                bad += [] if partial else [f"{name}: missing"]
                continue
            try:
                bad += [f"{name}: {w}" for w in compare(path, ours[name], partial, fix)]
            except Exception as exc:  # a file on disk must never be half-written
                bad.append(f"{name}: unreadable ({type(exc).__name__}: {exc})")
    return bad


def count_outputs(out: Path) -> int:
    """How many groups, datasets and checkpoints an output holds (a measure of progress)."""
    n = len(output_files(out, ".pt"))
    for path in output_files(out, ".h5"):
        with h5py.File(path, "r") as f:
            n += len(_objects(f))
    return n


class _PathFix:
    """Read the killed run's folder as the reference's in strings and names."""

    def __init__(self, ref: Path, got: Path) -> None:
        self.pairs = [(str(ref.parent), str(got.parent)), (str(ref), str(got))]

    def __call__(self, value: Any) -> Any:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "surrogateescape")
        if isinstance(value, str):
            for a, b in self.pairs:
                value = value.replace(b, a)
        return value


def _rel(path: Path, out: Path) -> str:
    """``path`` relative to the output it belongs to (``.`` for the output file itself)."""
    return "." if path == out else str(path.relative_to(out))


def _objects(group: h5py.Group) -> dict[str, h5py.HLObject]:
    found: dict[str, h5py.HLObject] = {"/": group}
    group.visititems(lambda n, o: found.setdefault(n, o) and None)
    return found


def _compare_h5(ref: Path, got: Path, partial: bool, fix: _PathFix) -> list[str]:
    bad: list[str] = []
    with h5py.File(ref, "r") as a, h5py.File(got, "r") as b:
        theirs, ours = _objects(a), _objects(b)
        if not partial:
            bad += [f"{n}: extra" for n in sorted(set(ours) - set(theirs))]
        for name, x in theirs.items():
            y = ours.get(name)
            if y is None:
                bad += [] if partial else [f"{name}: missing"]
            elif isinstance(x, h5py.Dataset) != isinstance(y, h5py.Dataset):
                bad.append(f"{name}: group in one file, dataset in the other")
            elif isinstance(x, h5py.Dataset) and not _same_data(x[()], y[()], partial, fix):
                bad.append(f"{name}: values differ")
            else:
                bad += [
                    f"{name}: attribute {k} differs" for k in _attr_diff(x, y, name, partial, fix)
                ]
    return bad


def _attr_diff(
    x: h5py.HLObject, y: h5py.HLObject, name: str, partial: bool, fix: _PathFix
) -> list[str]:
    """Attributes of ``x`` and ``y`` that differ (in a partial output: that both hold)."""
    skip = PROVENANCE if name == "/" else ()
    ours = {k: _plain(v, fix) for k, v in y.attrs.items() if k not in skip}
    theirs = {k: _plain(v, fix) for k, v in x.attrs.items() if k not in skip}
    keys = set(ours) & set(theirs) if partial else set(ours) | set(theirs)
    return sorted(k for k in keys if ours.get(k, ()) != theirs.get(k, ()))


def _plain(value: Any, fix: _PathFix) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v, fix) for v in value.tolist()]
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, np.generic):
        return _plain(value.item(), fix)
    return fix(value)


def _same_data(x: Any, y: Any, partial: bool, fix: _PathFix) -> bool:
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind in "OSU":
        x = np.vectorize(fix, otypes=[object])(x) if x.size else x
        y = np.vectorize(fix, otypes=[object])(y) if y.size else y
    if partial and x.ndim and y.ndim == x.ndim and len(y) < len(x):
        x = x[: len(y)]  # a killed run holds a prefix of the rows
    if x.shape != y.shape:
        return False
    if partial and x.dtype.kind == "b":
        return bool(np.all(x | ~y))  # a point done on disk is done in the reference
    if partial and x.dtype.kind == "f":
        computed = ~np.isnan(y)
        return bool(np.array_equal(x[computed], y[computed]))
    return bool(np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"))


def _compare_pt(ref: Path, got: Path, partial: bool, fix: _PathFix) -> list[str]:
    x = torch.load(ref, weights_only=True)
    y = torch.load(got, weights_only=True)
    return [f"{where}: differs" for where in _diff_objects(x, y, "", fix)]


def _diff_objects(x: Any, y: Any, where: str, fix: _PathFix) -> list[str]:
    if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
        same = (
            isinstance(x, torch.Tensor)
            and isinstance(y, torch.Tensor)
            and x.dtype == y.dtype
            and x.shape == y.shape
            and torch.equal(x, y)
        )
        return [] if same else [where or "."]
    if isinstance(x, dict) and isinstance(y, dict):
        if x.keys() != y.keys():
            return [f"{where}/keys"]
        return [d for k in x for d in _diff_objects(x[k], y[k], f"{where}/{k}", fix)]
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        if len(x) != len(y):
            return [f"{where}/len"]
        return [
            d
            for i, (a, b) in enumerate(zip(x, y, strict=True))
            for d in _diff_objects(a, b, f"{where}/{i}", fix)
        ]
    if isinstance(x, float) and isinstance(y, float) and x != x and y != y:
        return []
    return [] if fix(x) == fix(y) else [where or "."]
