"""Keep freed heap memory inside the process, so large buffers are not page-faulted in again.

Why: one CPU denoise at 1344x768 allocates and frees activations of hundreds of MB at
every step. glibc serves each allocation above its mmap threshold (32 MB at most) with a
fresh ``mmap`` and unmaps it on ``free``, so every step faults the same memory in from
the kernel again, zero-filled: about 250,000 minor page faults per image were measured,
15-25% of the denoise's time. With ``mmap`` off for malloc, a single arena (a worker
thread's own arena cannot hold a buffer over 64 MB) and a trim threshold high enough that
the heap is never shrunk, the second image onward reuses the first one's memory: zero
faults, and the same pixels.

The price is that a process keeps its peak heap after a job ends. For a worker that
is the point (the next job needs the same memory); a process with an uneven load should
leave it off. Only glibc has ``mallopt``; elsewhere this is a logged no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

from services.shared.logging import get_logger

log = get_logger(__name__)

# glibc <malloc.h> parameter numbers.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
M_ARENA_MAX = -8
#: The largest value mallopt takes (an int); heap above it is still never handed back.
NEVER = 2**31 - 1


@dataclass(frozen=True)
class AllocatorReport:
    """What :func:`retain_freed_memory` could set, for the startup log and tests."""

    applied: bool
    reason: str = ""


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    return libc


def retain_freed_memory() -> AllocatorReport:
    """Tell glibc's malloc to reuse freed memory instead of returning it (see the module doc).

    Call it early in a process's life: the arena limit only affects arenas created
    afterwards.
    """
    libc = _glibc()
    if libc is None:
        log.info("allocator left as is: not glibc")
        return AllocatorReport(False, "not glibc")
    settings = ((M_MMAP_MAX, 0), (M_ARENA_MAX, 1), (M_TRIM_THRESHOLD, NEVER), (M_MMAP_THRESHOLD, NEVER))
    refused = [param for param, value in settings if libc.mallopt(param, value) != 1]
    if refused:
        log.warning("allocator settings refused", parameters=refused)
        return AllocatorReport(False, f"mallopt refused {refused}")
    log.info("allocator keeps freed memory for reuse")
    return AllocatorReport(True)
