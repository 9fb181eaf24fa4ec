"""Where the large work arrays of curvature live, and whether they fit, decided before any work.

Lanczos keeps its Krylov basis, ``rows`` vectors of the ``n`` parameters, in one
preallocated ``(rows, n)`` tensor: in memory on the operator's device, or, when a
folder is given, in a memory-mapped file there (``torch.from_file``, shared
mapping: the kernel writes its pages back to the file and drops them as memory
runs short, so the basis is bounded by the disk instead of the RAM). The file is
unlinked as soon as it is mapped, so nothing is left behind, even after ``kill -9``.

The trace estimators' sketches (blocks of probes and their products, as rows
of the same kind of store, see :mod:`landscape.curvature.sketch`) are checked
against the memory (or the folder) free the same way, before the first product.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from landscape.errors import LandscapeError

WORK_VECTORS = 3
"""Vectors of ``n`` in the basis dtype the Lanczos recurrence holds beside its basis (the
product ``w``, the operator's input and a fresh vector after a breakdown)."""


def available_memory(device: torch.device | str) -> int:
    """Bytes free on ``device``: ``torch.cuda.mem_get_info`` on CUDA, else the OS's free pages."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def available_disk(directory: str | Path) -> int:
    """Bytes free on the file system holding ``directory``."""
    return int(shutil.disk_usage(directory).free)


def itemsize(dtype: torch.dtype) -> int:
    """Bytes of one entry of ``dtype``."""
    return torch.empty(0, dtype=dtype).element_size()


def check_folder(directory: str | Path | None) -> None:
    """Refuse a ``basis-on-disk`` folder that does not exist (``None``: the basis stays in memory).

    Raises:
        LandscapeError: ``basis-on-disk: DIR is not a folder``.

    """
    if directory is not None and not Path(directory).is_dir():
        raise LandscapeError(f"basis-on-disk: {directory} is not a folder")


def check_basis_fits(
    n: int,
    rows: int,
    dtype: torch.dtype,
    device: torch.device | str,
    directory: str | Path | None = None,
) -> None:
    """Refuse, before any work, a Krylov basis of ``rows`` vectors of ``n`` that cannot fit.

    In memory the need is the basis (``rows n`` entries of ``dtype``) plus
    :data:`WORK_VECTORS` vectors of ``dtype``; on disk the basis is checked
    against the folder's free space and the work vectors against the memory.

    Raises:
        LandscapeError: naming the need, what is free and the most vectors that fit.

    """
    size = itemsize(dtype)
    work = WORK_VECTORS * n * size
    basis = rows * n * size
    free, where, hint = _room(device, directory, "lower max-iter or k", "the basis")
    room = free - work if directory is None else free
    if basis + (work if directory is None else 0) > free:
        fit = max(0, room // (n * size))
        raise LandscapeError(
            f"lanczos: {rows} Krylov vectors of {n} parameters in {dtype} need "
            f"{(basis + work) / 2**30:.2f} GiB but {free / 2**30:.2f} GiB are {where}; "
            f"at most {fit} vectors fit ({hint})"
        )
    if directory is not None:
        _check_memory(
            f"lanczos: {WORK_VECTORS} work vectors of {n} parameters in {dtype} need", work, device
        )


def _check_memory(needs: str, nbytes: int, device: torch.device | str) -> None:
    """Refuse work arrays of ``nbytes`` that the memory free on ``device`` cannot hold.

    Raises:
        LandscapeError: ``{needs} X GiB but Y GiB are free on {device}``.

    """
    free = available_memory(device)
    if nbytes > free:
        raise LandscapeError(
            f"{needs} {nbytes / 2**30:.2f} GiB but {free / 2**30:.2f} GiB are free on {device}"
        )


def _room(
    device: torch.device | str, directory: str | Path | None, lower: str, held: str
) -> tuple[int, str, str]:
    """Bytes free where the rows will live, that place in words, and what to do when short.

    In memory (``directory`` is ``None``) that is ``device``'s free memory; on disk the
    free space of ``directory``, which must be a folder (:func:`check_folder`).
    """
    if directory is None:
        hint = f"{lower}, or hold {held} on disk (--basis-on-disk DIR)"
        return available_memory(device), f"free on {device}", hint
    check_folder(directory)
    hint = f"{lower}, or choose a folder with more space"
    return available_disk(directory), f"free on disk in {directory}", hint


def allocate_rows(
    rows: int,
    n: int,
    dtype: torch.dtype,
    device: torch.device | str,
    directory: str | Path | None = None,
) -> Tensor:
    """An uninitialized ``(rows, n)`` tensor: on ``device``, or memory-mapped in ``directory``.

    A file-backed tensor is on the CPU whatever ``device`` is; its file is
    created in ``directory`` and unlinked at once (the mapping keeps the space
    until the tensor is freed). Its entries start at zero (a new file's pages).
    """
    if directory is None:
        return torch.empty((rows, n), dtype=dtype, device=device)
    handle, name = tempfile.mkstemp(prefix="krylov-", suffix=".bin", dir=directory)
    try:
        os.ftruncate(handle, rows * n * itemsize(dtype))
        flat = torch.from_file(name, shared=True, size=rows * n, dtype=dtype)
    finally:
        os.close(handle)
        os.unlink(name)
    return flat.view(rows, n)


def grow_rows(store: Tensor, rows: int, directory: str | Path | None = None) -> Tensor:
    """A ``(rows, n)`` store (same dtype and place as ``store``) whose first rows are ``store``'s."""
    grown = allocate_rows(rows, store.shape[1], store.dtype, store.device, directory)
    grown[: store.shape[0]] = store
    return grown


def check_sketch_fits(
    n: int,
    products: int,
    *,
    sketch_bytes: int,
    work_bytes: int,
    device: torch.device | str,
    directory: str | Path | None,
    what: str,
) -> None:
    """Refuse, before any product, a trace sketch that cannot fit.

    An estimator spending ``products`` operator products holds its rows
    (probes, a sketch, its basis: ``sketch_bytes``) in memory, or on disk in
    ``directory``, and one block's product (``work_bytes``) in memory. The
    need grows linearly with ``products``, so the most products that fit is
    ``products`` scaled by what is free over the need.

    Raises:
        LandscapeError: naming the need, what is free and the most products that fit.

    """
    free, where, hint = _room(device, directory, "lower --trace-hvps", "the sketches")
    need = sketch_bytes + (work_bytes if directory is None else 0)
    if need > free:
        raise LandscapeError(
            f"{what}: {products} products of {n} parameters need {need / 2**30:.2f} GiB of "
            f"sketches but {free / 2**30:.2f} GiB are {where}; at most "
            f"{products * free // need} products fit ({hint})"
        )
    if directory is not None:
        _check_memory(f"{what}: a product of {n} parameters needs", work_bytes, device)
