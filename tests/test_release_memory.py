"""ReleaseMemoryHook: freed heap memory goes back to the OS after each node."""

import sys

import numpy as np
import pytest

from cemap.hooks import ReleaseMemoryHook, release_freed_memory
from cemap.settings import HOOKS


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; glibc's malloc_trim")
def test_fragmented_heap_is_returned_to_the_os():
    # 2,000 clip-sized arrays (100 kB, below glibc's mmap threshold, so on the heap); keeping
    # every tenth alive leaves ~180 MB of holes that free() alone does not give back.
    arrays = [np.ones(12_800) for _ in range(2_000)]
    kept = arrays[::10]
    del arrays
    before = _rss_mb()
    assert release_freed_memory()
    assert before - _rss_mb() > 100
    assert all(a[0] == 1.0 for a in kept)


def test_the_project_runs_the_hook_after_every_node():
    assert any(isinstance(hook, ReleaseMemoryHook) for hook in HOOKS)
