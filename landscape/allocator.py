"""Keep glibc's malloc from handing memory back to the OS between forward passes.

A surface evaluates the same forward pass hundreds of times. Its activations
(e.g. 4000 rows x 100 features = 1.6 MB per layer) are freed after each pass.
glibc's defaults serve blocks above a dynamic threshold with ``mmap`` and trim
the heap whenever more than twice that threshold lies free at its top, so each
pass may fault its memory in afresh from the kernel (zero-filled pages). On
this project's 2-core machine the same MLP pass then averaged 1.3 or 2.2 ms
from one round of passes to the next, and system time took 10.7% of the CPU
time (0.2% with the thresholds fixed; BENCHMARKS.md, ``scripts/bench_surface.py
--default-malloc``). PyTorch's CPU
performance guide gives the same advice (jemalloc/tcmalloc, or tuned glibc).

:func:`tune_malloc` sets the two thresholds through ``mallopt(3)``. The
``landscape`` command line calls it at start; library users may call it in
their own process (it changes process-wide behaviour, so the library never
does so on its own).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
"""``mallopt`` parameter: free bytes at the top of the heap before it is returned to the OS."""
M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter: blocks at least this large are served by ``mmap``."""
MMAP_THRESHOLD = 32 * 2**20
"""32 MiB, glibc's own upper bound for its dynamic threshold on 64-bit systems."""
TRIM_THRESHOLD = 256 * 2**20
"""Up to 256 MiB of freed heap is kept for reuse instead of returned to the OS."""


def tune_malloc() -> bool:
    """Fix glibc's mmap and trim thresholds so freed tensors' memory is reused, not re-faulted.

    Freed memory up to :data:`TRIM_THRESHOLD` stays in the process (its
    resident size does not shrink after a peak) and blocks below
    :data:`MMAP_THRESHOLD` come from the heap. Outside glibc (macOS, Windows,
    musl) nothing changes.

    Returns:
        Whether both thresholds were set.

    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    log.debug("malloc thresholds %s", "set" if done else "left at glibc's defaults")
    return done
