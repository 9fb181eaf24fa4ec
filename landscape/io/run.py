"""The run file, ``RUN/run.h5``: its ``dynamics`` group, written and read (h5py and numpy only).

Layout of the group (README, "run.h5")::

    dynamics/                  attrs: config, optimizer, hparams, layers, shapes,
                               grad_every, step_size_sample (when sampled)
    dynamics/init/<param>      the initial parameters (:func:`landscape.store.write_params`)
    dynamics/step/<column>     one row per optimizer step
    dynamics/epoch/<column>    one row per epoch (epoch 0: the initial point)
    dynamics/probe/<column>    one row per probe call (``step`` and the probe's values)
    dynamics/diagnosis         written by :func:`landscape.dynamics.diagnose.store_diagnosis`

The record tables are resizable datasets in chunks of 64 KiB of rows, one
dataset per column, every column of a table one row per record. Every write
is a transaction of :func:`landscape.store.atomic_update`.

>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / RUN_FILE
>>> header = RunHeader("{}", "sgd", {"lr": 0.1}, ("w",), ((2,),), grad_every=1)
>>> create_run_file(path, header, {"w": np.zeros(2)})
>>> append_records(path, steps={"step": np.array([1, 2]), "loss": np.array([0.5, 0.25])})
>>> read_run_file(path).steps["loss"].tolist()
[0.5, 0.25]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np

from landscape.errors import LandscapeError
from landscape.io.run_checks import json_attr, layer_shapes, read_table, text_attr
from landscape.store import atomic_update, open_read, read_params, write_params

RUN_FILE = "run.h5"
"""The run file's name inside a run directory."""

GROUP = "dynamics"
"""The HDF5 group that holds the run."""

Columns = Mapping[str, np.ndarray]
"""A table's rows as one array per column (equal lengths along axis 0)."""

_CHUNK_BYTES = 1 << 16
"""HDF5 chunk size of the record tables: 64 KiB of rows (h5py's ``chunks=True``
sizes chunks to the first write, one row for one epoch, and appends wrote many)."""


def run_file(run_dir: str | Path) -> Path:
    """Path of the HDF5 file of a run directory.

    >>> run_file("runs/adam").as_posix()
    'runs/adam/run.h5'
    """
    return Path(run_dir) / RUN_FILE


@dataclass(frozen=True)
class RunHeader:
    """What a run file states once, at its creation (the ``dynamics`` group's attributes).

    Attributes:
        config: the run's configuration as JSON (:func:`landscape.store.config_json`).
        optimizer: the optimizer's name (e.g. ``adam``).
        hparams: its hyperparameters (JSON-friendly).
        layers: the recorded parameter names, in model order.
        shapes: the shape of each.
        grad_every: the steps whose number is a multiple of it carry gradient norms.
        step_size_sample: the entries the step-size percentiles of a larger
            layer come from; ``None``: every entry (the attribute is left out).
    """

    config: str
    optimizer: str
    hparams: Mapping[str, Any]
    layers: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    grad_every: int
    step_size_sample: int | None = None


@dataclass(frozen=True)
class RunFile:
    """Everything the ``dynamics`` group of a run file holds.

    Attributes:
        config: the configuration the run was made with (JSON of ``dynamics/@config``).
        optimizer: optimizer name, e.g. ``adam`` (``""`` if not stored).
        hparams: optimizer hyperparameters.
        layers: parameter names, in model order (input side first).
        shapes: the shape of each parameter.
        epochs: the ``epoch`` table, one array per column: ``epoch``, ``step``, ``lr``,
            ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``mean_step_loss``,
            ``grad_norm``, ``distance_from_init`` of shape ``(E,)``, and
            ``layer_grad_norm``, ``weight_norm``, ``update_ratio``,
            ``eff_step_p10``, ``eff_step_p50``, ``eff_step_p90`` of shape
            ``(E, len(layers))``; NaN where not defined.
        steps: the ``step`` table: ``step``, ``epoch``, ``loss``, ``lr``, ``grad_norm``.
        probes: the ``probe`` table: ``step`` and one array per probe scalar
            (e.g. ``lambda_max``).
        diagnosis: the stored diagnosis (JSON) or ``None``.
        grad_every: the steps whose number is a multiple of it carry gradient
            norms; the others' ``grad_norm`` is NaN (1 in files without it).
        step_size_sample: the ``eff_step_*`` percentiles of layers with more
            entries come from this many entries drawn at random; ``None``:
            from every entry.
    """

    config: dict[str, Any]
    optimizer: str
    hparams: dict[str, Any]
    layers: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    epochs: dict[str, np.ndarray]
    steps: dict[str, np.ndarray]
    probes: dict[str, np.ndarray]
    diagnosis: dict[str, Any] | None
    grad_every: int = 1
    step_size_sample: int | None = None


class ResumePoint(NamedTuple):
    """What resuming a run reads from its file.

    Attributes:
        epoch_steps: the optimizer steps taken by the end of each recorded epoch.
        init: the initial parameters, by name.
    """

    epoch_steps: dict[int, int]
    init: dict[str, np.ndarray]


def create_run_file(
    path: Path, header: RunHeader, init: Mapping[str, np.ndarray], *, command: str | None = None
) -> None:
    """Write a new run file holding ``header`` and the initial parameters ``init`` (no records).

    Args:
        path: the file (replaced if it exists).
        header: the group's attributes.
        init: the initial parameters, by name, in model order.
        command: the command line for the file's provenance.
    """
    with atomic_update(path, new=True, command=command) as f:
        g = f.create_group(GROUP)
        g.attrs["config"] = header.config
        g.attrs["optimizer"] = header.optimizer
        g.attrs["hparams"] = json.dumps(dict(header.hparams))
        g.attrs["layers"] = json.dumps(list(header.layers))
        g.attrs["shapes"] = json.dumps([list(s) for s in header.shapes])
        g.attrs["grad_every"] = header.grad_every
        if header.step_size_sample is not None:
            g.attrs["step_size_sample"] = header.step_size_sample
        write_params(g, "init", init)


def append_records(
    path: Path,
    *,
    steps: Columns | None = None,
    epochs: Columns | None = None,
    probes: Columns | None = None,
) -> None:
    """Append rows to the ``step``, ``epoch`` and ``probe`` tables in one transaction.

    A table given as ``None`` is left as it is. A column first seen now is
    back-filled with NaN; a known column missing from the new rows is
    extended with NaN, so every column keeps one row per record.
    """
    with atomic_update(path) as f:
        g = f[GROUP]
        for table, columns in (("step", steps), ("epoch", epochs), ("probe", probes)):
            if columns:
                _append(g, table, columns)


def truncate_records(path: Path, *, last_epoch: int, last_step: int) -> None:
    """Drop the records after ``last_epoch`` and ``last_step``, and the diagnosis if any were.

    Rows of the ``epoch`` table whose ``epoch`` exceeds ``last_epoch`` go, and
    rows of the ``step`` and ``probe`` tables whose ``step`` exceeds ``last_step``.
    """
    with atomic_update(path) as f:
        g = f[GROUP]
        dropped = [
            _truncate(g, "epoch", "epoch", last_epoch),
            _truncate(g, "step", "step", last_step),
            _truncate(g, "probe", "step", last_step),
        ]
        if any(dropped) and "diagnosis" in g:
            del g["diagnosis"]


def read_resume_point(path: Path) -> ResumePoint:
    """Read the recorded epochs' last steps and the initial parameters of a run file."""
    with open_read(path) as f:
        g = f[GROUP]
        epochs = g["epoch/epoch"][()] if "epoch" in g else np.zeros(0, dtype=np.int64)
        ends = g["epoch/step"][()] if "epoch" in g else np.zeros(0, dtype=np.int64)
        init = read_params(g["init"])
    return ResumePoint({int(e): int(s) for e, s in zip(epochs, ends, strict=True)}, init)


def read_run_file(path: Path) -> RunFile:
    """Read the ``dynamics`` group of a run file.

    Raises:
        LandscapeError: if the file holds no ``dynamics`` group, is not HDF5, or
            holds what a run file cannot (:mod:`landscape.io.run_checks`).
    """
    with open_read(path) as f:
        if GROUP not in f:
            raise LandscapeError(
                f"{path}: no '{GROUP}' group; expected a run file written by a Recorder"
            )
        g = f[GROUP]
        if not isinstance(g, h5py.Group):
            raise LandscapeError(f"{path}: '{GROUP}' is not a group; expected a run file")
        layers, shapes = layer_shapes(
            g, json_attr(g, "layers", [], list), json_attr(g, "shapes", [], list)
        )
        return RunFile(
            config=json_attr(g, "config", {}, dict),
            optimizer=text_attr(g, "optimizer") or "",
            hparams=json_attr(g, "hparams", {}, dict),
            layers=layers,
            shapes=shapes,
            epochs=read_table(g, "epoch", len(layers)),
            steps=read_table(g, "step", len(layers)),
            probes=_renamed(read_table(g, "probe", len(layers))),
            diagnosis=(
                json_attr(g["diagnosis"], "result", None, dict) if "diagnosis" in g else None
            ),
            grad_every=_whole(g, "grad_every", 1),
            step_size_sample=_whole(g, "step_size_sample", None),
        )


def _append(g: h5py.Group, table: str, columns: Columns) -> None:
    """Append rows to the resizable datasets ``g/table/<column>`` (chunks of 64 KiB of rows)."""
    t = g.require_group(table)
    before = next((t[k].shape[0] for k in t), 0)
    added = len(next(iter(columns.values())))
    for name in [k for k in t if k not in columns]:
        t[name].resize(before + added, axis=0)
        t[name][before:] = np.nan
    for name, values in columns.items():
        values = np.asarray(values)
        if name not in t:
            if before:
                values = np.concatenate([np.full((before, *values.shape[1:]), np.nan), values])
            row_bytes = max(values[0].nbytes if len(values) else values.itemsize, 1)
            chunk = (max(_CHUNK_BYTES // row_bytes, 1), *values.shape[1:])
            t.create_dataset(name, data=values, maxshape=(None, *values.shape[1:]), chunks=chunk)
            continue
        ds = t[name]
        ds.resize(before + added, axis=0)
        ds[before:] = values


def _truncate(g: h5py.Group, table: str, key: str, last: int) -> bool:
    """Drop the rows of ``g/table`` whose ``key`` exceeds ``last``; return whether any were."""
    if table not in g or key not in g[table]:
        return False
    keys = g[table][key][()]
    keep = int(np.searchsorted(keys, last, side="right"))
    if keep == len(keys):
        return False
    for ds in g[table].values():
        ds.resize(keep, axis=0)
    return True


def _whole(g: h5py.Group, name: str, default: int | None) -> int | None:
    """Attribute ``name`` of ``g`` as a positive whole number (``default`` when absent)."""
    value = g.attrs.get(name)
    if value is None:
        return default
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise LandscapeError(f"{g.file.filename}: {g.name}/@{name} must be a positive whole number")
    return int(value)


OLD_PROBE_NAMES = {"num_hvps": "num_matvecs"}
"""Probe columns of files written before the rename, and their names now."""


def _renamed(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``columns`` with old probe column names read under their new names."""
    return {OLD_PROBE_NAMES.get(k, k): v for k, v in columns.items()}
