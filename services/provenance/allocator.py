"""Keep freed memory in the process so Finalize's large temporaries do not page-fault.

A Finalize call at 1344x768 allocates tens of MB of short-lived numpy arrays (pdqhash
alone makes three float64 copies of the image). glibc serves blocks above its mmap
threshold with fresh mmap()s and hands freed heap tops back to the kernel, so every call
faults the same pages in again: on this machine that was a third of PDQ's time and half
of the watermark's. Raising both thresholds makes the memory of one call serve the next.
The cost is resident memory held at its peak (a few tens of MB per worker thread).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

_log = logging.getLogger(__name__)

#: mallopt parameter numbers from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc's ceiling for the mmap threshold on 64-bit (larger blocks are always mmapped).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024


def retain_freed_memory() -> bool:
    """Tune glibc's allocator once per process; False (and nothing changed) elsewhere, e.g. on musl."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
    if not applied:
        _log.warning("mallopt refused the thresholds; Finalize will page-fault more")
    return applied
