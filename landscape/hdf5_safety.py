"""What an HDF5 file may hold before landscape reads or writes it: no way out of the file.

A file received from someone must never make the program touch another file
or allocate blindly: external links, virtual datasets over other files and
datasets whose raw data lives in external files are refused (a file that is
only read may follow them with ``--follow-external-links`` or
``LANDSCAPE_FOLLOW_EXTERNAL_LINKS=1``); a file that is written or resumed may
hold hard links only; and a dataset may not declare far more bytes than it
stores (:mod:`landscape.limits`). h5py and numpy only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from landscape import limits
from landscape.errors import LandscapeError, one_line
from landscape.limits import FOLLOW_EXTERNAL_ENV as FOLLOW_EXTERNAL_ENV
from landscape.limits import MAX_UNSTORED_BYTES as MAX_UNSTORED_BYTES
from landscape.limits import MAX_UNSTORED_ENV as MAX_UNSTORED_ENV


def check_no_links(f: h5py.Group, path: str | Path, *, writing: bool) -> None:
    """Refuse what would make reading or writing ``f`` touch another file or allocate blindly.

    Refused in every file: external links, virtual datasets mapping other files,
    datasets whose raw data lives in external files (unless
    ``--follow-external-links`` or ``LANDSCAPE_FOLLOW_EXTERNAL_LINKS=1`` for a
    file that is only read), and datasets declaring more than
    :data:`MAX_UNSTORED_BYTES` beyond what they store (a 23 kB file may not make
    a reader allocate 1 GB; lifted by ``--max-read-mb`` or
    ``LANDSCAPE_MAX_UNSTORED_BYTES``). In a file that is written or resumed
    (``writing``) every link other than a hard link is refused, and every
    virtual or externally stored dataset.

    Args:
        f: the open file (or a group in it) to walk.
        path: the file's name, for the message.
        writing: whether the file is about to be changed.

    Raises:
        LandscapeError: naming the first offending object.

    """
    now = limits.current()
    outside_ok = not writing and now.follow_external_links
    unstored_limit = now.max_unstored_bytes
    refuse = (
        "refused: a file we write may hold hard links only"
        if writing
        else "refused: a file may not point outside itself (pass "
        f"{limits.FOLLOW_EXTERNAL_OPTION} or set {FOLLOW_EXTERNAL_ENV}=1 to follow)"
    )

    links: list[tuple[str, Any]] = []
    try:  # the callback must not raise: h5py turns that into a SystemError
        f.visititems_links(lambda name, link: links.append((name, link)))
    except (SystemError, RuntimeError, OSError, KeyError, ValueError) as exc:
        reason = one_line(exc.__cause__ or exc)
        raise LandscapeError(f"{path}: damaged HDF5 content ({reason})") from exc
    for name, link in links:
        if isinstance(link, h5py.ExternalLink):
            if not outside_ok:
                raise LandscapeError(
                    f"{path}: {name!r} is an external link to {link.filename}:{link.path}; {refuse}"
                )
        elif isinstance(link, h5py.SoftLink):
            if writing:
                raise LandscapeError(f"{path}: {name!r} is a soft link to {link.path}; {refuse}")
        else:
            obj = f.get(name)
            if isinstance(obj, h5py.Dataset):
                _check_dataset(
                    obj,
                    name,
                    path,
                    writing=writing,
                    outside_ok=outside_ok,
                    unstored_limit=unstored_limit,
                    refuse=refuse,
                )


def _check_dataset(
    ds: h5py.Dataset,
    name: str,
    path: str | Path,
    *,
    writing: bool,
    outside_ok: bool,
    unstored_limit: int,
    refuse: str,
) -> None:
    if ds.is_virtual:
        files = sorted({src.file_name for src in ds.virtual_sources()})
        if writing or (files != ["."] and not outside_ok):
            raise LandscapeError(
                f"{path}: {name!r} is a virtual dataset over {', '.join(files)}; {refuse}"
            )
    if ds.external and (writing or not outside_ok):
        raise LandscapeError(
            f"{path}: {name!r} keeps its data in external file {ds.external[0][0]!r}; {refuse}"
        )
    declared = int(np.prod(ds.shape, dtype=object)) * ds.dtype.itemsize if ds.shape else 0
    stored = ds.id.get_storage_size()
    if declared - stored > unstored_limit:
        raise LandscapeError(
            f"{path}: dataset {name!r} declares shape {ds.shape} ({_size(declared)}) but stores "
            f"{_size(stored)} (damaged or crafted?); refused above "
            f"{unstored_limit / 2**20:g} MiB not stored (pass {limits.MAX_READ_OPTION} or set "
            f"{MAX_UNSTORED_ENV} to lift the limit)"
        )


def _size(n: int) -> str:
    """``n`` bytes in decimal units (``23.0 kB``)."""
    if n < 1000:
        return f"{n} B"
    exponent = min(int(math.log10(n)) // 3, 4)
    return f"{n / 1000**exponent:.1f} {('kB', 'MB', 'GB', 'TB')[exponent - 1]}"
