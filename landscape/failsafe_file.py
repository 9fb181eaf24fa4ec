"""A file object for h5py's ``fileobj`` driver whose writes never fail.

HDF5 crashes the process when its own writes fail while it closes a file (a
full disk, a file size limit: exit 139). Through :class:`FailsafeFile` HDF5
writes straight into the file, so a transaction holds no image of the file in
memory; a write the operating system refuses is kept in memory instead (with
everything written before it, read back), so HDF5 never sees a failure, and
:meth:`FailsafeFile.check` raises the first refusal once HDF5 is done with the
file. This module knows the standard library only.
"""

from __future__ import annotations

import os
from typing import Any

Buffer = Any
"""Any object exporting the buffer protocol (h5py passes Cython memoryviews)."""


class FailsafeFile:
    r"""The readable, writable, seekable file ``fd`` as h5py's ``fileobj`` driver uses it.

    Reads past the end give zeros, as HDF5's own POSIX driver does. After the
    first failed write or resize every operation works on an in-memory copy of
    the file, and :attr:`error` holds that failure.

    Args:
        fd: a file descriptor opened for reading and writing (not closed here).
        name: what ``repr`` gives, which h5py reports as the file's ``filename``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryFile() as tmp:
        ...     f = FailsafeFile(tmp.fileno(), "example.h5")
        ...     f.seek(3)
        ...     f.write(b"abc")
        ...     out = bytearray(8)
        ...     _ = f.seek(0)
        ...     f.readinto(out)
        ...     f.check()
        ...     bytes(out)
        3
        3
        8
        b'\x00\x00\x00abc\x00\x00'

    """

    def __init__(self, fd: int, name: str):
        self.fd = fd
        self.name = name
        self.position = 0
        self.memory: bytearray | None = None
        self.error: OSError | None = None

    def __repr__(self) -> str:
        return self.name

    def _size(self) -> int:
        return len(self.memory) if self.memory is not None else os.fstat(self.fd).st_size

    def _to_memory(self, error: OSError) -> bytearray:
        """Keep the file's content in memory from now on, remembering ``error``."""
        self.error = error
        memory = bytearray()
        while chunk := os.pread(self.fd, 1 << 20, len(memory)):
            memory += chunk
        self.memory = memory
        return memory

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move to ``offset`` from the start, the current position or the end."""
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self._size()}[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        """The current position."""
        return self.position

    def readinto(self, buffer: Buffer) -> int:
        """Fill ``buffer`` from the current position (zeros past the end); its length."""
        view = memoryview(buffer).cast("B")
        if self.memory is not None:
            part = self.memory[self.position : self.position + len(view)]
        else:
            part = os.pread(self.fd, len(view), self.position)
        view[: len(part)] = part
        view[len(part) :] = bytes(len(view) - len(part))
        self.position += len(view)
        return len(view)

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes from the current position (the rest of the file for -1)."""
        size = max(self._size() - self.position, 0) if size < 0 else size
        out = bytearray(size)
        self.readinto(out)
        return bytes(out)

    def write(self, data: Buffer) -> int:
        """Write all of ``data`` at the current position; a refused write goes to memory."""
        view = memoryview(data).cast("B")
        if self.memory is None:
            done = 0
            try:
                while done < len(view):
                    done += os.pwrite(self.fd, view[done:], self.position + done)
            except OSError as exc:
                self._to_memory(exc)
        if self.memory is not None:
            end = self.position + len(view)
            if len(self.memory) < end:
                self.memory.extend(bytes(end - len(self.memory)))
            self.memory[self.position : end] = view
        self.position += len(view)
        return len(view)

    def truncate(self, size: int) -> int:
        """Make the file ``size`` bytes long."""
        if self.memory is None:
            try:
                os.ftruncate(self.fd, size)
            except OSError as exc:
                self._to_memory(exc)
        if self.memory is not None:
            del self.memory[size:]
            self.memory.extend(bytes(size - len(self.memory)))
        return size

    def flush(self) -> None:
        """Nothing to do: every write went to the operating system (or to memory)."""

    def check(self) -> None:
        """Raise the first refused write or resize, if any.

        Raises:
            OSError: the operating system's refusal (``ENOSPC``, ``EFBIG``, ...).

        """
        if self.error is not None:
            raise self.error
