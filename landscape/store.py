"""HDF5 storage: one versioned schema, provenance, crash-safe writes, locking.

Every file written by landscape carries root attributes ``schema_version``,
``landscape_version``, ``created``, ``command`` and package versions; each
result group (``directions/``, ``surface/``, ``trajectory/``, ``curvature/``,
``dynamics/``) carries a JSON ``config`` attribute describing exactly how it
was made, which decides whether a re-run may resume into it.

Writes are crash-safe: :func:`atomic_update` edits a copy of the file (in a
private directory beside it, so planted symbolic links are never followed) and
renames it over the original, so after ``kill -9`` at any moment the file on
disk is the last complete version; HDF5 writes through a file object whose
writes never fail (:mod:`landscape.failsafe_file`), so a full disk is one
line, not a crash. A lock file (``fcntl.flock``, re-checked
after locking) refuses a second concurrent writer with a clear error. Files
never reach outside themselves: :func:`check_no_links` refuses external links,
virtual and externally stored datasets (and, in files we write, soft links),
and datasets declaring far more than they store. This module knows h5py and
numpy only; it never imports torch.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import glob
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from landscape.errors import HDF5_ERRORS, LandscapeError, reraised
from landscape.failsafe_file import FailsafeFile
from landscape.hdf5_safety import FOLLOW_EXTERNAL_ENV as FOLLOW_EXTERNAL_ENV
from landscape.hdf5_safety import MAX_UNSTORED_ENV as MAX_UNSTORED_ENV
from landscape.hdf5_safety import check_no_links

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
        "command": _printable(command if command is not None else " ".join(sys.argv)),
        "package_versions": json.dumps(versions, sort_keys=True),
    }


def _printable(text: str) -> str:
    r"""``text`` as valid UTF-8: bytes that are not (a non-UTF-8 file name) become ``\xNN``.

    >>> _printable("out" + b"\xff".decode("utf-8", "surrogateescape"))
    'out\\xff'
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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

    The file is checked by :func:`check_no_links` (``writing=False``) first.

    Raises:
        LandscapeError: if the file is missing, truncated, not HDF5, points
            outside itself or declares datasets far larger than it stores.

    """
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"file not found: {path}")
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError as exc:
        raise LandscapeError(f"{path}: not a readable HDF5 file (truncated or corrupt?)") from exc
    try:
        with reraised(lambda reason: f"{path}: damaged HDF5 content ({reason})", *HDF5_ERRORS):
            check_no_links(f, path, writing=False)
            yield f
    finally:
        f.close()


@contextlib.contextmanager
def writer_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive advisory lock for writing ``path`` (a ``.lock`` file beside it).

    The lock file is opened with ``O_NOFOLLOW`` (a planted symbolic link is
    refused), and after ``flock`` succeeds its inode is compared with the one
    the name points to now: a lock taken on a file its previous holder had
    just deleted is dropped and taken again, so two writers never both hold
    it. The holder deletes the file while still holding the lock.

    Raises:
        LandscapeError: if another process holds the lock, or the lock file
            cannot be made safely.

    """
    lock_path = Path(str(path) + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LandscapeError(_os_error_line(Path(path), exc) or f"{path}: {exc}") from exc
    fd = _acquire(lock_path, Path(path))
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        os.close(fd)


def _acquire(lock_path: Path, path: Path) -> int:
    """Open and ``flock`` ``lock_path``, retrying while the locked inode is no longer its file."""
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LandscapeError(
                    f"{lock_path} is a symbolic link; refusing to follow it (remove it if you "
                    "did not make it)"
                ) from None
            raise LandscapeError(_os_error_line(path, exc) or f"{lock_path}: {exc}") from exc
        try:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode):
                raise LandscapeError(f"{lock_path} is not a regular file; remove it")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LandscapeError(
                    f"{path} is being written by another process; wait for it or choose another --out"
                ) from None
            try:
                now = os.stat(lock_path, follow_symlinks=False)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino):
            return fd
        os.close(fd)


@contextlib.contextmanager
def atomic_update(
    path: str | Path, *, new: bool = False, command: str | None = None
) -> Iterator[h5py.File]:
    """Edit ``path`` as a transaction: all of the block's writes land, or none do.

    The block works on a :func:`private_temporary` (a copy of the file, or a new
    file) that replaces ``path`` by ``os.replace`` after an ``fsync``; an
    exception or a kill leaves ``path`` as it was. HDF5 writes it through a
    :class:`~landscape.failsafe_file.FailsafeFile`, so no image of the file is
    held in memory, and a write the disk refuses (full, or a file size limit)
    never reaches HDF5, whose close crashes the process when its own writes
    fail: the refusal is raised as one line after HDF5 has closed the file,
    the previous file kept. An existing file is checked by
    :func:`check_no_links` (``writing=True``) before the block.

    Args:
        path: the HDF5 file.
        new: start from an empty file with fresh root provenance attributes
            instead of the existing content.
        command: the command line for the provenance of a new file.

    Raises:
        LandscapeError: if the file holds links, is not HDF5, or the disk is
            full (the previous file is kept).

    """
    path = Path(path)
    with private_temporary(path) as tmp:
        existing = not new and path.exists()
        fd = os.open(tmp, _NEW_RW_FILE, 0o666)
        try:
            if existing:
                with open(path, "rb") as src, open(os.dup(fd), "wb") as dst:
                    shutil.copyfileobj(src, dst, COPY_CHUNK)
            # h5py names the file by the object's repr: the original for an edit, as before
            target = FailsafeFile(fd, str(path if existing else tmp))
            try:
                f = h5py.File(target, "r+" if existing else "w", locking=False)
            except OSError as exc:
                if _os_error_line(path, exc) is not None:
                    raise
                raise LandscapeError(
                    f"{path}: not a readable HDF5 file (truncated or corrupt?)"
                ) from exc
            try:
                if existing:
                    check_no_links(f, path, writing=True)
                else:
                    f.attrs.update(root_attrs(command))
                yield f
                f.flush()
            finally:
                f.close()
            target.check()
        finally:
            os.close(fd)


COPY_CHUNK = 1 << 20
"""Bytes per read when copying a file for a transaction."""


@contextlib.contextmanager
def private_temporary(path: str | Path) -> Iterator[Path]:
    """A temporary file for a new version of ``path``, renamed over it when the block succeeds.

    The temporary lives in a private directory (``mkdtemp``: mode 0700, a fresh
    name ``PATH.tmp-PID-XXXX``) beside ``path``, so a symbolic link planted in a
    shared folder is never followed and no other user can swap the file while
    it is written. An exception or a kill leaves ``path`` as it was; the
    directory of a killed writer is removed by the next writer of ``path``.

    Raises:
        LandscapeError: if the folder of ``path`` cannot be written or the disk
            is full.

    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        folder = Path(tempfile.mkdtemp(prefix=f"{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    except OSError as exc:
        raise LandscapeError(_os_error_line(path, exc) or f"{path}: {exc}") from exc
    try:
        tmp = folder / path.name
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        line = _os_error_line(path, exc)
        if line is None:
            raise
        raise LandscapeError(line) from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_NEW_RW_FILE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
"""Flags for a file that must not exist yet and must not be reached through a link, opened
for reading too (HDF5 reads back what it writes)."""


def _os_error_line(path: Path, exc: OSError) -> str | None:
    """One line for a failure to write ``path`` that the user can act on (else ``None``)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{path}: disk full while writing; the previous file is kept"
    if exc.errno == errno.EFBIG:
        return f"{path}: file size limit reached while writing; the previous file is kept"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: cannot write there ({os.strerror(exc.errno)}); choose another --out"
    return None


def _remove_stale_temporaries(path: Path) -> None:
    """Delete the temporaries of ``path`` left by writers that were killed (their PID is gone).

    Both ``PATH.tmp-PID-XXXX`` directories and the ``PATH.tmp-PID`` files of
    earlier versions are recognised; symbolic links are removed, never followed.
    """
    prefix = f"{path.name}.tmp-"
    for tmp in path.parent.glob(f"{glob.escape(path.name)}.tmp-*"):
        pid = tmp.name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
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
        if not isinstance(old, dict):
            raise LandscapeError(
                f"{path}: the {group!r} config is {type(old).__name__}, not a dict (damaged or "
                "crafted?); pass --overwrite to replace it"
            )
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
    """Read a group written by :func:`write_params`, in its original order.

    Raises:
        LandscapeError: if ``names`` is not a list of the group's datasets, or
            an entry is not a finite real-valued array (strings, NaN).

    """
    where = f"{group.file.filename}: {group.name!r}"
    names = json.loads(group.attrs["names"]) if "names" in group.attrs else list(group)
    if not isinstance(names, list) or not all(isinstance(k, str) and k in group for k in names):
        raise LandscapeError(f"{where}: its 'names' attribute does not list its datasets")
    out = {}
    for k in names:
        value = read_array(group, k)
        if not np.isfinite(value).all():
            raise LandscapeError(f"{where}: {k!r} holds NaN or infinity")
        out[k] = value
    return out


_KIND_NAMES = {"f": "float", "i": "integer", "u": "unsigned integer", "b": "bool"}


def read_array(
    group: h5py.Group, name: str, *, shape: tuple[int, ...] | None = None, kinds: str = "fiu"
) -> np.ndarray:
    """Read dataset ``name`` of ``group``, refusing what a crafted file could put there.

    Args:
        group: the group holding it.
        name: its name in the group.
        shape: the shape it must have (any when ``None``).
        kinds: the numpy dtype kinds allowed (``f`` float, ``i``/``u`` integers,
            ``b`` bool).

    Raises:
        LandscapeError: naming the file, the dataset and what was expected.

    """
    where = f"{group.file.filename}: {group.name.rstrip('/')}/{name}"
    ds = group.get(name)
    if not isinstance(ds, h5py.Dataset):
        raise LandscapeError(f"{where} is missing or not a dataset")
    if ds.dtype.kind not in kinds:
        expected = " or ".join(_KIND_NAMES[k] for k in kinds)
        raise LandscapeError(f"{where} is of dtype {ds.dtype}; expected {expected} values")
    if shape is not None and ds.shape != tuple(shape):
        raise LandscapeError(f"{where} has shape {ds.shape}; expected {tuple(shape)}")
    return ds[()]


def read_coordinates(group: h5py.Group, name: str) -> np.ndarray:
    """Read a grid axis (``xcoordinates``): real, 1-D, finite and strictly increasing.

    Raises:
        LandscapeError: naming the file and the axis.

    """
    values = np.asarray(read_array(group, name), dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.isfinite(values).all() or np.any(np.diff(values) <= 0):
        raise LandscapeError(
            f"{group.file.filename}: {name} must be finite and strictly increasing "
            "(damaged or crafted?)"
        )
    return values
