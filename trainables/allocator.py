"""Process-wide glibc malloc policy for training workers, applied when the worker starts.

Why: every cnn training step allocates and frees activation/gradient buffers of ~10-20 MB
(e.g. the 128 x 64 x 24 x 24 max-pool gradient). With glibc's defaults such blocks are mmap'd
and unmapped, or trimmed off the heap top, and their pages are faulted in (and zero-filled by
the kernel) again on the next step: 100k-200k minor page faults per 6,000-row epoch, 5-15 % of
the cnn's time on the 2-core development machine (benchmarks/README.md, "allocator").
Keeping blocks up to 32 MiB on the heap and not trimming it removes the faults:
`keep_freed_memory()` (mallopt).

The trim threshold only governs glibc's main arena. A thread other than the main one (Tune
runs function trainables in one) allocates from a per-thread arena made of 64 MiB heaps, and
glibc unmaps such a heap whenever it becomes empty, whatever the threshold: the faults come
back (230k-590k per 12,000-row cnn epoch in a Tune trial, 5-15 % of its time). Only the
environment at process start can cap the arenas: `worker_glibc_tunables()` gives the
GLIBC_TUNABLES value for one arena, the main one, for every thread.

Who applies it: the sweep starts its Ray workers with `worker_glibc_tunables()` in their
environment, and a trial calls `keep_freed_memory()` once when it starts; a benchmark worker
calls it at process start. The trainers themselves never change the allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameter numbers from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# 32 MiB is glibc's largest allowed mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
# Freed memory kept at the top of the heap before it is returned to the OS.
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024

# glibc reads GLIBC_TUNABLES once, at process start; other C libraries ignore it.
GLIBC_TUNABLES_ENV = "GLIBC_TUNABLES"
ARENA_MAX_TUNABLE = "glibc.malloc.arena_max"
WORKER_ARENA_MAX = 1

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the mallopt settings above once per process (Linux/glibc only; idempotent).

    Returns True when glibc accepted both settings, False where they do not apply (other
    platforms or C libraries). Peak memory is unchanged; memory freed after the peak is
    kept by the process (up to TRIM_THRESHOLD_BYTES) instead of returned to the OS.
    """
    global _applied  # a process-wide fact, cached so repeated fits pay nothing
    if _applied is None:
        _applied = _mallopt_settings()
    return _applied


def _mallopt_settings() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl without mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


def worker_glibc_tunables(existing: str | None = None) -> str:
    """GLIBC_TUNABLES for a training worker: `existing` plus `glibc.malloc.arena_max=1`.

    `existing` is the colon-separated value already set (e.g. the driver's), kept as is; an
    arena_max the user set there wins. Returns the value to put in the worker's environment.
    """
    items = [item for item in (existing or "").split(":") if item]
    if not any(item.split("=", 1)[0] == ARENA_MAX_TUNABLE for item in items):
        items.append(f"{ARENA_MAX_TUNABLE}={WORKER_ARENA_MAX}")
    return ":".join(items)
