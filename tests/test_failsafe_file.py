"""Writes the disk refuses never reach HDF5, and a transaction raises them as one line."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape import failsafe_file, store
from landscape.errors import LandscapeError
from landscape.failsafe_file import FailsafeFile

LIMIT = 20_000
"""Bytes the simulated disk accepts."""


def _small_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``os.pwrite`` and ``os.ftruncate`` refuse anything past :data:`LIMIT` bytes."""
    real_pwrite, real_ftruncate = os.pwrite, os.ftruncate

    def pwrite(fd: int, data: memoryview, offset: int) -> int:
        if offset + len(data) > LIMIT:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    def ftruncate(fd: int, size: int) -> None:
        if size > LIMIT:
            raise OSError(errno.EFBIG, "File too large")
        real_ftruncate(fd, size)

    monkeypatch.setattr(failsafe_file.os, "pwrite", pwrite)
    monkeypatch.setattr(failsafe_file.os, "ftruncate", ftruncate)


def test_a_refused_write_goes_to_memory_and_hdf5_closes_a_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_disk(monkeypatch)
    data = np.arange(50_000, dtype=np.float64)  # 400 kB: past the limit
    fd = os.open(tmp_path / "f.h5", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        target = FailsafeFile(fd, str(tmp_path / "f.h5"))
        with h5py.File(target, "w") as f:
            f["small"] = np.ones(3)
            f["large"] = data
            assert f.filename == str(tmp_path / "f.h5")
        assert target.memory is not None and os.fstat(fd).st_size <= LIMIT
        with pytest.raises(OSError) as caught:
            target.check()
        assert caught.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    image = tmp_path / "image.h5"
    image.write_bytes(bytes(target.memory))  # what HDF5 wrote, whole
    with h5py.File(image, "r") as f:
        assert f["small"][()].tolist() == [1.0, 1.0, 1.0]
        assert np.array_equal(f["large"][()], data)


def test_a_transaction_on_a_full_disk_is_one_line_and_keeps_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.h5"
    with store.atomic_update(path, new=True) as f:
        f["data"] = np.zeros(3)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    _small_disk(monkeypatch)
    with (
        pytest.raises(LandscapeError, match="disk full while writing; the previous file is kept"),
        store.atomic_update(path) as f,
    ):
        f["more"] = np.arange(50_000, dtype=np.float64)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5"]


def test_a_transaction_edits_a_copy_and_keeps_the_original_name(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with store.atomic_update(path, new=True, command="make") as f:
        f["data"] = np.arange(4.0)
    with store.atomic_update(path) as f:
        assert f.filename == str(path)
        f["data"][1] = 7.0
        f.attrs["edited"] = True
    with h5py.File(path, "r") as f:
        assert f["data"][()].tolist() == [0.0, 7.0, 2.0, 3.0]
        assert f.attrs["edited"] and f.attrs["command"] == "make"
