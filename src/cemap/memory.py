"""Process memory: give freed heap back to the OS, and read the peak since the last reset.

The default run's bar is on peak memory (docs/design.md §7), so every node's peak is logged
(``ReleaseMemoryHook``); both functions are Linux-only and do nothing elsewhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, looked up once (``find_library`` runs a subprocess); None
    where there is none (macOS, musl)."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """Give the heap pages that freed objects left behind back to the OS; True if it could.

    Rendering speech allocates thousands of clip-sized arrays; once freed, glibc keeps the
    fragmented heap mapped, so the process carried ~1.7 GB it no longer used into the
    training nodes that followed. ``malloc_trim`` (glibc only) returns it.
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def peak_rss_bytes(reset: bool = False) -> int | None:
    """This process's peak resident memory (``VmHWM``) since it started or since the last
    ``reset=True``, in bytes; then, with ``reset``, start a new peak from the current size.
    None where ``/proc`` cannot say (not Linux) or the reset is not allowed."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        peak = int(line.split()[1]) * 1024
        if reset:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
                clear.write("5")  # resets VmHWM to VmRSS (Linux >= 4.0)
    except (OSError, StopIteration, ValueError):
        return None
    return peak
