"""HDF5 storage: one versioned schema, provenance, crash-safe writes, locking.

Every file written by landscape carries root attributes ``schema_version``,
``landscape_version``, ``created``, ``command`` and package versions; each
result group (``directions/``, ``surface/``, ``trajectory/``, ``curvature/``,
``dynamics/``) carries a JSON ``config`` attribute describing exactly how it
was made, which decides whether a re-run may resume into it.

Writes are crash-safe: :func:`atomic_update` edits a copy of the file and
renames it over the original, so after ``kill -9`` at any moment the file on
disk is the last complete version. A lock file (``fcntl.flock``) refuses a
second concurrent writer with a clear error. This module knows h5py and numpy
only; it never imports torch.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from landscape.errors import LandscapeError

SCHEMA_VERSION = 1


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a result (for provenance)."""
    out = {"python": sys.version.split()[0]}
    for name in ("landscape", "torch", "numpy", "scipy", "h5py"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def root_attrs(command: str | None) -> dict[str, Any]:
    """The provenance attributes written at the root of every new file."""
    versions = package_versions()
    return {
        "schema_version": SCHEMA_VERSION,
        "landscape_version": versions["landscape"],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(sys.argv),
        "package_versions": json.dumps(versions, sort_keys=True),
    }


def config_json(config: Mapping[str, Any]) -> str:
    """Canonical JSON of a configuration (sorted keys), used to compare runs."""
    return json.dumps(config, sort_keys=True, default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


@contextlib.contextmanager
def open_read(path: str | Path) -> Iterator[h5py.File]:
    """Open an HDF5 file for reading, turning every failure into one clear line.

    Raises:
        LandscapeError: if the file is missing, truncated or not HDF5.

    """
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"file not found: {path}")
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError as exc:
        raise LandscapeError(f"{path}: not a readable HDF5 file (truncated or corrupt?)") from exc
    try:
        yield f
    except LandscapeError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LandscapeError(f"{path}: damaged HDF5 content ({reason})") from exc
    finally:
        f.close()


@contextlib.contextmanager
def writer_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive advisory lock for writing ``path`` (a ``.lock`` file beside it).

    Raises:
        LandscapeError: if another process holds the lock.

    """
    lock_path = Path(str(path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LandscapeError(
                f"{path} is being written by another process; wait for it or choose another --out"
            ) from None
        yield
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            lock_path.unlink()


@contextlib.contextmanager
def atomic_update(
    path: str | Path, *, new: bool = False, command: str | None = None
) -> Iterator[h5py.File]:
    """Edit ``path`` as a transaction: all of the block's writes land, or none do.

    The block works on a copy (``path.tmp-PID``) that replaces ``path`` by
    ``os.replace`` after a successful block and an ``fsync``; an exception or
    a kill leaves ``path`` as it was.

    Args:
        path: the HDF5 file.
        new: start from an empty file with fresh root provenance attributes
            instead of the existing content.
        command: the command line for the provenance of a new file.

    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        if not new and path.exists():
            shutil.copyfile(path, tmp)
            mode = "r+"
        else:
            mode = "w"
        try:
            f = h5py.File(tmp, mode, locking=False)
        except OSError as exc:
            raise LandscapeError(
                f"{path}: not a readable HDF5 file (truncated or corrupt?)"
            ) from exc
        try:
            if mode == "w":
                f.attrs.update(root_attrs(command))
            yield f
        finally:
            f.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno == 28:
            raise LandscapeError(
                f"{path}: disk full while writing; the previous file is kept"
            ) from exc
        raise


def _remove_stale_temporaries(path: Path) -> None:
    """Delete ``path.tmp-PID`` files left by writers that were killed (their PID is gone)."""
    for tmp in path.parent.glob(f"{path.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                tmp.unlink()
        except PermissionError:
            continue


def group_config(path: str | Path, group: str) -> str | None:
    """The stored JSON config of ``group`` in ``path`` (``None`` if file or group is absent)."""
    path = Path(path)
    if not path.exists():
        return None
    with open_read(path) as f:
        if group not in f:
            return None
        value = f[group].attrs.get("config")
        return None if value is None else str(value)


def check_resumable(
    path: str | Path, group: str, config: Mapping[str, Any], *, overwrite: bool
) -> bool:
    """Decide whether a run may write ``group`` of ``path``.

    Returns:
        ``True`` if the file already holds ``group`` made with the same config
        (resume), ``False`` if the group is absent or ``overwrite`` is set.

    Raises:
        LandscapeError: if the group exists with a different config and
            ``overwrite`` is not set (the file is left untouched).

    """
    stored = group_config(path, group)
    if stored is None or overwrite:
        return False
    if stored != config_json(config):
        old, new = json.loads(stored), json.loads(config_json(config))
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise LandscapeError(
            f"{path} already holds a {group!r} made with different settings ({', '.join(diff[:4])}); "
            "pass --overwrite to replace it or choose another --out"
        )
    return True


def write_params(parent: h5py.Group, name: str, params: Mapping[str, np.ndarray]) -> h5py.Group:
    """Store a name-keyed vector (ParamDict as numpy) as a group of datasets.

    Parameter names contain dots, which HDF5 allows; the original order is kept
    in the ``names`` attribute.
    """
    if name in parent:
        del parent[name]
    g = parent.create_group(name)
    for k, v in params.items():
        g.create_dataset(k, data=np.asarray(v))
    g.attrs["names"] = json.dumps(list(params))
    return g


def read_params(group: h5py.Group) -> dict[str, np.ndarray]:
    """Read a group written by :func:`write_params`, in its original order."""
    names = json.loads(group.attrs["names"]) if "names" in group.attrs else list(group)
    return {k: group[k][()] for k in names}
