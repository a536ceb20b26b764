"""Sentences to waveforms: render through a backend in worker processes, cache every clip.

A clip is a pure function of (backend, text, voice, knobs): every backend yields int16
samples (:meth:`~cemap.speech.backend.SpeechBackend.render`), trimmed of leading and
trailing silence with a fixed threshold, and that exact array is cached and returned (as
float32). So the same utterances give byte-identical waveforms whether they come from the
cache or the engine, in one process or several. Backends are looked up in
:data:`cemap.speech.backends.BACKENDS`; nothing here depends on which they are.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import math
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from cemap.memory import release_freed_memory
from cemap.speech.backends import get_backend
from cemap.speech.cache import ClipCache, clip_key_of
from cemap.speech.features import LogMelSpec
from cemap.speech.utterances import Utterance

if TYPE_CHECKING:
    from tqdm import tqdm

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Samples quieter than this fraction of full scale (-40 dBFS) count as silence when
#: trimming the ends of a clip.
TRIM_THRESHOLD = 0.01
#: Seconds of audio kept before the first and after the last non-silent sample.
TRIM_MARGIN_S = 0.02
#: Below this many clips to render per worker, starting worker processes costs more than
#: it saves, so fewer workers (or none) are used.
MIN_CLIPS_PER_WORKER = 64
#: Largest number of clips one task sent to a worker carries.
MAX_CHUNK = 128


@dataclass(frozen=True)
class RenderStats:
    """What one :func:`render_speech` call did.

    ``rendered``: distinct clips synthesised; ``cached``: distinct clips read from the
    cache; ``damaged``: cache entries found damaged (and rendered again, counted in
    ``rendered``); ``seconds``: wall time; ``sample_rate``: Hz of the returned waveforms;
    ``workers``: processes that rendered, this one included (0 = nothing to render).
    """

    rendered: int
    cached: int
    seconds: float
    sample_rate: int
    damaged: int = 0
    workers: int = 0


def backend_sample_rate(backend: str) -> int:
    """Native sample rate (Hz) of the clips a backend yields."""
    return get_backend(backend).sample_rate


def check_backend_available(backend: str) -> None:
    """Fail fast, with a message that says what to do, if ``backend`` cannot render now
    (``SpeechBackend.check_available``: eSpeak NG loads, Google answers, piper is installed)."""
    get_backend(backend).check_available()


def _worker_count(strategy, workers: int, clips: int) -> int:
    per_worker = strategy.min_clips_per_worker or MIN_CLIPS_PER_WORKER
    return max(1, min(workers, clips // per_worker))


def _check_backend_of(utterances: Sequence[Utterance], backend: str) -> None:
    for utterance in utterances:
        if utterance.backend is not None and utterance.backend != backend:
            raise ValueError(
                f"{utterance!r} is for the {utterance.backend} backend, not {backend}; render "
                "each backend's utterances with that backend (render_mixed does this)."
            )


def _check_utterance(utterance: Utterance, backend: str) -> None:
    get_backend(backend).check_utterance(utterance)


def trim_silence(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """``samples`` (int16, ``(num_samples,)``) without leading and trailing silence.

    Keeps :data:`TRIM_MARGIN_S` around the first and last sample louder than
    :data:`TRIM_THRESHOLD` of full scale; an all-silent clip becomes empty.
    """
    threshold = int(TRIM_THRESHOLD * 32768)
    loud = (samples > threshold) | (samples < -threshold)
    first = int(loud.argmax())
    if not loud[first]:
        return samples[:0]
    last = len(loud) - 1 - int(loud[::-1].argmax())
    margin = round(TRIM_MARGIN_S * sample_rate)
    return samples[max(0, first - margin) : last + 1 + margin]


def render_clip(utterance: Utterance, backend: str) -> np.ndarray:
    """One trimmed clip, int16 ``(num_samples,)`` at the backend's rate, no cache."""
    strategy = get_backend(backend)
    return trim_silence(strategy.render(utterance), strategy.sample_rate)


def _clip_key(utterance: Utterance, backend: str) -> str:
    strategy = get_backend(backend)
    fields = strategy.cache_fields(utterance)
    return clip_key_of(backend, utterance.text, utterance.voice, strategy.sample_rate, fields)


def _to_float(samples: np.ndarray) -> np.ndarray:
    # One pass; exact, since 1/32768 is a power of two.
    return np.multiply(samples, np.float32(1 / 32768), dtype=np.float32)


def _render_and_store(
    items: Sequence[tuple[str, Utterance]], backend: str, cache_dir: str, keep: bool = True
) -> list[tuple[str, np.ndarray | None]]:
    """Render and cache each ``(key, utterance)``; runs in a worker process or inline.
    Returns the samples too when ``keep`` (None otherwise: nothing to send back)."""
    cache = ClipCache(cache_dir, backend, backend_sample_rate(backend))
    rendered = []
    for key, utterance in items:
        samples = render_clip(utterance, backend)
        cache.write(key, samples)
        rendered.append((key, samples if keep else None))
    return rendered


def _map_in_pool(
    fn: Callable[..., T],
    tasks: list[tuple],
    workers: int,
    on_done: Callable[[T], None],
    initializer: Callable[[], object] | None = None,
) -> None:
    """``on_done(fn(*task))`` for every task, run in this process and ``workers - 1`` worker
    processes (each first running ``initializer``), in whatever order they finish.

    This process works through tasks from the end of the list while the workers start up and
    take tasks from the front, so start-up time is not lost and no CPU idles.
    """
    pending = deque(tasks)
    # spawn, not fork: the caller may hold threads (torch, MLflow) that fork would copy
    # mid-lock; the workers import only what ``fn``'s module needs.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        workers - 1, mp_context=context, initializer=initializer
    ) as pool:
        running: set[concurrent.futures.Future] = set()
        try:
            while pending or running:
                # One task in hand and one queued per worker keeps them busy.
                while pending and len(running) < 2 * (workers - 1):
                    running.add(pool.submit(fn, *pending.popleft()))
                finished = {future for future in running if future.done()}
                if not finished and pending:
                    on_done(fn(*pending.pop()))
                    continue
                if not finished:
                    finished, _ = concurrent.futures.wait(
                        running, return_when=concurrent.futures.FIRST_COMPLETED
                    )
                for future in finished:
                    running.remove(future)
                    on_done(future.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _render_in_pool(
    todo: list[tuple[str, Utterance]],
    backend: str,
    cache_dir: str,
    workers: int,
    bar: tqdm,
    keep: bool = True,
) -> dict[str, np.ndarray | None]:
    """Render ``todo`` in this process and ``workers - 1`` worker processes (the workers
    import only numpy, soundfile and the backend's engine)."""
    size = max(1, min(MAX_CHUNK, math.ceil(len(todo) / (workers * 8))))
    tasks = [(todo[i : i + size], backend, cache_dir, keep) for i in range(0, len(todo), size)]
    results: dict[str, np.ndarray | None] = {}

    def collect(done: list[tuple[str, np.ndarray | None]]) -> None:
        results.update(done)
        bar.update(len(done))

    _map_in_pool(_render_and_store, tasks, workers, collect)
    return results


def render_speech(
    utterances: Sequence[Utterance],
    backend: str,
    cache_dir: str | Path,
    workers: int = 2,
    progress: bool = True,
) -> tuple[list[np.ndarray], RenderStats]:
    """Speak every utterance; clips not yet in ``cache_dir`` are rendered and cached.

    Returns one float32 mono waveform in [-1, 1) per utterance, in input order, at
    ``RenderStats.sample_rate`` (the backend's: 22,050 Hz for ``espeak`` and ``piper``,
    24,000 Hz for ``gtts``), and
    the stats. ``workers=1`` renders in this process; ``workers=n`` renders in this
    process and ``n - 1`` worker processes (fewer when there is little to render). A
    damaged cache entry is rendered again. Every utterance must be for ``backend`` (or for
    no backend in particular); :func:`render_mixed` renders several backends at once.
    """
    started = time.perf_counter()
    strategy = get_backend(backend)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    sample_rate = backend_sample_rate(backend)
    cache = ClipCache(cache_dir, backend, sample_rate)

    _check_backend_of(utterances, backend)
    keys = [_clip_key(utterance, backend) for utterance in utterances]
    clips: dict[str, np.ndarray | None] = {}
    todo: list[tuple[str, Utterance]] = []
    damaged = 0
    for key, utterance in zip(keys, utterances, strict=True):
        if key in clips:  # the same clip asked for twice
            continue
        samples, was_damaged = cache.read(key)
        damaged += was_damaged
        if samples is None:
            todo.append((key, utterance))
            clips[key] = None  # placeholder: rendered below
        else:
            clips[key] = samples
    cached = len(clips) - len(todo)
    if damaged:
        logger.warning(
            "%d damaged speech cache entries in %s; rendering them again.", damaged, cache.root
        )

    n_workers = 0
    if todo:
        for _, utterance in todo:
            _check_utterance(utterance, backend)
        strategy.check_before_rendering()
        n_workers = _worker_count(strategy, workers, len(todo))
        # Imported here: worker processes import this module and never show a bar.
        from tqdm.auto import tqdm

        with tqdm(
            total=len(todo), desc=f"speech ({backend})", unit="clip", disable=not progress
        ) as bar:
            if n_workers == 1:
                for key, utterance in todo:
                    clips.update(_render_and_store([(key, utterance)], backend, str(cache_dir)))
                    bar.update(1)
            else:
                clips.update(_render_in_pool(todo, backend, str(cache_dir), n_workers, bar))

    waveforms = [_to_float(clips[key]) for key in keys]
    stats = RenderStats(
        rendered=len(todo),
        cached=cached,
        seconds=time.perf_counter() - started,
        sample_rate=sample_rate,
        damaged=damaged,
        workers=n_workers,
    )
    logger.info(
        "Speech (%s): %d clips rendered, %d from cache, in %.1f s.",
        backend,
        stats.rendered,
        stats.cached,
        stats.seconds,
    )
    return waveforms, stats


def _backend_of(utterance: Utterance, backend: str | None) -> str:
    name = utterance.backend or backend
    if name is None:
        raise ValueError(
            f"{utterance!r} names no backend; set Utterance.backend or pass backend=..."
        )
    return name


def _groups(utterances: Sequence[Utterance], backend: str | None) -> dict[str, list[int]]:
    """Row indices of each backend's utterances, backends in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, utterance in enumerate(utterances):
        groups.setdefault(_backend_of(utterance, backend), []).append(i)
    return groups


def fill_cache(
    utterances: Sequence[Utterance],
    backend: str,
    cache_dir: str | Path,
    workers: int = 2,
    progress: bool = True,
) -> tuple[int, int]:
    """Render every clip of ``utterances`` (all for ``backend``) that has no cache file yet,
    in one pool, keeping nothing in memory. Returns ``(clips rendered, workers used)``.
    Damaged files are left to :func:`render_speech`, which checks every clip it reads."""
    strategy = get_backend(backend)
    _check_backend_of(utterances, backend)
    cache = ClipCache(cache_dir, backend, strategy.sample_rate)
    todo: dict[str, Utterance] = {}
    for utterance in utterances:
        key = _clip_key(utterance, backend)
        if key not in todo and not cache.path(key).is_file():
            todo[key] = utterance
    if not todo:
        return 0, 0
    for utterance in todo.values():
        _check_utterance(utterance, backend)
    strategy.check_before_rendering()
    items = list(todo.items())
    n_workers = _worker_count(strategy, workers, len(items))
    from tqdm.auto import tqdm

    with tqdm(
        total=len(items), desc=f"speech ({backend})", unit="clip", disable=not progress
    ) as bar:
        if n_workers == 1:
            for item in items:
                _render_and_store([item], backend, str(cache_dir), keep=False)
                bar.update(1)
        else:
            _render_in_pool(items, backend, str(cache_dir), n_workers, bar, keep=False)
    logger.info("Speech (%s): %d clips rendered with %d workers.", backend, len(items), n_workers)
    return len(items), n_workers


def render_mixed(
    utterances: Sequence[Utterance],
    cache_dir: str | Path,
    *,
    backend: str | None = None,
    workers: int = 2,
    progress: bool = True,
) -> tuple[list[tuple[np.ndarray, int]], RenderStats]:
    """Speak utterances of any backends (each its own ``Utterance.backend``, else
    ``backend``): ``(waveform, sample_rate)`` per utterance in input order, and the summed
    stats (``sample_rate`` 0 when the backends' rates differ)."""
    started = time.perf_counter()
    out: list[tuple[np.ndarray, int] | None] = [None] * len(utterances)
    totals = {"rendered": 0, "cached": 0, "damaged": 0, "workers": 0}
    rates = set()
    for name, rows in _groups(utterances, backend).items():
        waveforms, stats = render_speech(
            [utterances[i] for i in rows], name, cache_dir, workers, progress=progress
        )
        for i, waveform in zip(rows, waveforms, strict=True):
            out[i] = (waveform, stats.sample_rate)
        for field in ("rendered", "cached", "damaged"):
            totals[field] += getattr(stats, field)
        totals["workers"] = max(totals["workers"], stats.workers)
        rates.add(stats.sample_rate)
    stats = RenderStats(
        seconds=time.perf_counter() - started,
        sample_rate=rates.pop() if len(rates) == 1 else 0,
        **totals,
    )
    return out, stats  # type: ignore[return-value]


def _chunk_features(
    start: int,
    utterances: Sequence[Utterance],
    backend: str | None,
    cache_dir: str,
    spec: LogMelSpec,
) -> tuple[int, np.ndarray, dict[str, int], set[int]]:
    """Log-mel features of one chunk of utterances whose clips are cached (any missing or
    damaged clip is rendered again), with the chunk's ``start`` row, its render counts and
    sample rates; runs in a worker process or inline."""
    features = np.empty((len(utterances), spec.n_mels, spec.n_frames), dtype=np.float32)
    counts = {"rendered": 0, "cached": 0, "damaged": 0, "cropped": 0}
    rates = set()
    for name, rows in _groups(utterances, backend).items():
        waveforms, stats = render_speech(
            [utterances[i] for i in rows], name, cache_dir, 1, progress=False
        )
        features[rows] = spec.compute(waveforms, stats.sample_rate)
        counts["cropped"] += spec.count_cropped(waveforms, stats.sample_rate)
        for key in ("rendered", "cached", "damaged"):
            counts[key] += getattr(stats, key)
        rates.add(stats.sample_rate)
        del waveforms
    return start, features, counts, rates


def _set_torch_threads(n: int) -> int:
    """torch's intra-op threads set to ``n``; returns the count before. In the features pass
    every process runs on one thread: the processes are the parallelism (two processes on one
    thread each gave the same bits as one process on two threads for the default 22,000
    clips; the tests compare one process and two)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    return before


def render_log_mels(
    utterances: Sequence[Utterance],
    backend: str | None,
    cache_dir: str | Path,
    *,
    workers: int = 2,
    chunk_size: int = 2048,
    progress: bool = True,
    spec: LogMelSpec | None = None,
) -> tuple[np.ndarray, RenderStats, int]:
    """Log-mel features of every utterance, ``(N, n_mels, n_frames)`` float32, in order.

    Utterances may come from several backends (each its own ``Utterance.backend``, else
    ``backend``). First every clip not yet cached is rendered, one pool per backend
    (:func:`fill_cache`); then the clips are read and featurised ``chunk_size`` at a time, in
    this process and ``workers - 1`` worker processes, so each holds one chunk of waveforms
    at most (18k clips at 22 kHz would take ~5 GB at once); the chunks, and so the features,
    are the same whatever ``workers`` is. ``spec`` (default ``LogMelSpec()``) says how the
    features are computed. Also returns the summed render stats and how many clips were
    cropped to fit ``spec.n_frames``.
    """
    from tqdm.auto import tqdm

    spec = spec or LogMelSpec()
    started = time.perf_counter()
    groups = _groups(utterances, backend)
    filled, n_workers = 0, 0
    for name, rows in groups.items():
        count, used = fill_cache(
            [utterances[i] for i in rows], name, cache_dir, workers, progress=progress
        )
        filled, n_workers = filled + count, max(n_workers, used)
    # Rendering in this process leaves a heap fragmented by thousands of freed clips; hand it
    # back before the features array and the chunks of waveforms are allocated on top of it.
    release_freed_memory()

    features = np.empty((len(utterances), spec.n_mels, spec.n_frames), dtype=np.float32)
    counts = {"rendered": filled, "cached": 0, "damaged": 0, "cropped": 0}
    rates: set[int] = set()
    tasks = [
        (start, utterances[start : start + chunk_size], backend, str(cache_dir), spec)
        for start in range(0, len(utterances), chunk_size)
    ]
    bar = tqdm(total=len(tasks), desc="speech features", unit="chunk", disable=not progress)

    def collect(done: tuple[int, np.ndarray, dict[str, int], set[int]]) -> None:
        start, chunk_features, chunk_counts, chunk_rates = done
        features[start : start + len(chunk_features)] = chunk_features
        for key, value in chunk_counts.items():
            counts[key] += value
        rates.update(chunk_rates)
        release_freed_memory()
        bar.update(1)

    pool_size = max(1, min(workers, len(tasks)))
    with bar:
        if pool_size == 1:
            for task in tasks:
                collect(_chunk_features(*task))
        else:
            before = _set_torch_threads(1)
            try:
                one_thread = functools.partial(_set_torch_threads, 1)
                _map_in_pool(_chunk_features, tasks, pool_size, collect, one_thread)
            finally:
                _set_torch_threads(before)
    total = RenderStats(
        rendered=counts["rendered"],
        cached=max(0, counts["cached"] - filled),
        seconds=time.perf_counter() - started,
        sample_rate=rates.pop() if len(rates) == 1 else 0,
        damaged=counts["damaged"],
        workers=n_workers or 1,
    )
    return features, total, counts["cropped"]
