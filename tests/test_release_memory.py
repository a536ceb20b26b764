"""ReleaseMemoryHook: freed heap memory goes back to the OS after each node, and each node's
peak is reported."""

import sys

import numpy as np
import pytest

from cemap.hooks import ReleaseMemoryHook
from cemap.memory import peak_rss_bytes, release_freed_memory
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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_peak_covers_a_transient_array_and_a_reset_starts_a_new_one():
    peak_rss_bytes(reset=True)
    before = peak_rss_bytes()
    transient = np.ones(50_000_000 // 8)  # 50 MB, freed and handed back at once
    del transient
    release_freed_memory()  # as the hook does before it resets
    after = peak_rss_bytes(reset=True)
    assert after - before > 40e6
    assert peak_rss_bytes() < after - 40e6  # the reset forgot the transient


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_hook_logs_each_nodes_peak_into_the_active_mlflow_run(tmp_path, caplog):
    import logging
    from types import SimpleNamespace

    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    caplog.set_level(logging.INFO, logger="cemap.hooks")
    try:
        with mlflow.start_run() as run:
            ReleaseMemoryHook().after_node_run(SimpleNamespace(name="speech.train_autoencoder"))
        logged = mlflow.get_run(run.info.run_id).data.metrics
    finally:
        mlflow.set_tracking_uri(previous)
    peak = logged["memory/speech.train_autoencoder/peak_rss_gb"]
    assert 0.01 < peak < 64
    assert "Node speech.train_autoencoder peaked at" in caplog.text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_runs_peak_is_its_largest_node_peak(tmp_path, caplog):
    import logging
    from types import SimpleNamespace

    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    caplog.set_level(logging.INFO, logger="cemap.hooks")
    hook = ReleaseMemoryHook()
    try:
        with mlflow.start_run() as run:
            hook.before_pipeline_run()
            transient = np.ones(200_000_000 // 8)  # 200 MB inside the "big" node only
            del transient
            hook.after_node_run(SimpleNamespace(name="big"))
            hook.after_node_run(SimpleNamespace(name="small"))
            hook.after_pipeline_run()
        logged = mlflow.get_run(run.info.run_id).data.metrics
    finally:
        mlflow.set_tracking_uri(previous)
    assert logged["memory/peak_rss_gb"] == logged["memory/big/peak_rss_gb"]
    assert logged["memory/big/peak_rss_gb"] - logged["memory/small/peak_rss_gb"] > 0.15
    assert "The run peaked at" in caplog.text and "(node big)" in caplog.text
