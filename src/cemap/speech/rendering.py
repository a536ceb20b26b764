"""Sentences to waveforms: pick a backend, render in worker processes, cache every clip.

A clip is a pure function of (backend, text, voice, rate, pitch): every backend yields
int16 samples (eSpeak NG natively, gTTS after decoding and rounding), trimmed of leading
and trailing silence with a fixed threshold, and that exact array is cached and returned
(as float32). So the same utterances give byte-identical waveforms whether they come
from the cache or the engine, in one process or several.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import math
import multiprocessing
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cemap.speech import google_tts
from cemap.speech.cache import ClipCache, clip_key
from cemap.speech.espeak import ESPEAK_SAMPLE_RATE, check_rate_and_pitch, get_engine
from cemap.speech.features import LogMelSpec
from cemap.speech.utterances import Utterance

if TYPE_CHECKING:
    from tqdm import tqdm

logger = logging.getLogger(__name__)

#: Speech backends: ``espeak`` (offline, default) and ``gtts`` (Google, needs network).
BACKENDS = ("espeak", "gtts")

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


def _check_backend_name(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(
            f"Unknown speech backend {backend!r}; set data_generation.speech.backend to one "
            f"of {', '.join(BACKENDS)} ('espeak' is the offline default)."
        )


def backend_sample_rate(backend: str) -> int:
    """Native sample rate (Hz) of the clips a backend yields."""
    _check_backend_name(backend)
    return ESPEAK_SAMPLE_RATE if backend == "espeak" else google_tts.GTTS_SAMPLE_RATE


def check_backend_available(backend: str) -> None:
    """Fail fast, with a message that says what to do, if ``backend`` cannot render now.

    ``espeak``: the library loads and initialises. ``gtts``: ``translate.google.com:443``
    accepts a connection within a few seconds.
    """
    _check_backend_name(backend)
    if backend == "espeak":
        get_engine()
    else:
        google_tts.check_gtts_reachable()


def _check_utterance(utterance: Utterance, backend: str) -> None:
    if backend == "espeak":
        check_rate_and_pitch(utterance.rate, utterance.pitch)
        get_engine().resolve_voice(utterance.voice)
    else:
        google_tts.validate_gtts_voice(utterance.voice)


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
    if backend == "espeak":
        samples = get_engine().synthesize(
            utterance.text, utterance.voice, utterance.rate, utterance.pitch
        )
    else:
        waveform, rate = google_tts.decode_mp3(
            google_tts.fetch_gtts_mp3(utterance.text, utterance.voice)
        )
        if rate != google_tts.GTTS_SAMPLE_RATE:
            from cemap.speech.features import resample_to

            waveform = resample_to(waveform, rate, google_tts.GTTS_SAMPLE_RATE)
        samples = np.clip(np.round(waveform * 32768.0), -32768, 32767).astype(np.int16)
    return trim_silence(samples, backend_sample_rate(backend))


@functools.cache
def _espeak_version() -> str:
    return "espeakng-loader " + version("espeakng-loader")


def _clip_key(utterance: Utterance, backend: str) -> str:
    if backend == "espeak":
        rate, pitch, engine = utterance.rate, utterance.pitch, _espeak_version()
    else:
        # Google ignores rate and pitch: one clip serves every rate/pitch of a sentence.
        rate, pitch, engine = 0, 0, "google-translate"
    return clip_key(
        backend,
        utterance.text,
        utterance.voice,
        rate,
        pitch,
        backend_sample_rate(backend),
        engine,
    )


def _to_float(samples: np.ndarray) -> np.ndarray:
    # One pass; exact, since 1/32768 is a power of two.
    return np.multiply(samples, np.float32(1 / 32768), dtype=np.float32)


def _render_and_store(
    items: Sequence[tuple[str, Utterance]], backend: str, cache_dir: str
) -> list[tuple[str, np.ndarray]]:
    """Render and cache each ``(key, utterance)``; runs in a worker process or inline."""
    cache = ClipCache(cache_dir, backend, backend_sample_rate(backend))
    rendered = []
    for key, utterance in items:
        samples = render_clip(utterance, backend)
        cache.write(key, samples)
        rendered.append((key, samples))
    return rendered


def _render_in_pool(
    todo: list[tuple[str, Utterance]],
    backend: str,
    cache_dir: str,
    workers: int,
    bar: tqdm,
) -> dict[str, np.ndarray]:
    """Render ``todo`` in this process and ``workers - 1`` worker processes.

    This process works through chunks from the end of the list while the workers start
    up and take chunks from the front, so start-up time is not lost and no CPU idles.
    """
    size = max(1, min(MAX_CHUNK, math.ceil(len(todo) / (workers * 8))))
    pending = deque(todo[i : i + size] for i in range(0, len(todo), size))
    results: dict[str, np.ndarray] = {}

    def collect(done: list[tuple[str, np.ndarray]]) -> None:
        results.update(done)
        bar.update(len(done))

    # spawn, not fork: the caller may hold threads (torch, MLflow) that fork would copy
    # mid-lock; the workers import only numpy, soundfile and the eSpeak NG binding.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers - 1, mp_context=context) as pool:
        running: set[concurrent.futures.Future] = set()
        try:
            while pending or running:
                # One chunk in hand and one queued per worker keeps them busy.
                while pending and len(running) < 2 * (workers - 1):
                    items = pending.popleft()
                    running.add(pool.submit(_render_and_store, items, backend, cache_dir))
                finished = {future for future in running if future.done()}
                if not finished and pending:
                    collect(_render_and_store(pending.pop(), backend, cache_dir))
                    continue
                if not finished:
                    finished, _ = concurrent.futures.wait(
                        running, return_when=concurrent.futures.FIRST_COMPLETED
                    )
                for future in finished:
                    running.remove(future)
                    collect(future.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
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
    ``RenderStats.sample_rate`` (22,050 Hz for ``espeak``, 24,000 Hz for ``gtts``), and
    the stats. ``workers=1`` renders in this process; ``workers=n`` renders in this
    process and ``n - 1`` worker processes (fewer when there is little to render). A
    damaged cache entry is rendered again.
    """
    started = time.perf_counter()
    _check_backend_name(backend)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    sample_rate = backend_sample_rate(backend)
    cache = ClipCache(cache_dir, backend, sample_rate)

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
        if backend == "gtts":
            google_tts.check_gtts_reachable()
        n_workers = max(1, min(workers, len(todo) // MIN_CLIPS_PER_WORKER))
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


def render_log_mels(
    utterances: Sequence[Utterance],
    backend: str,
    cache_dir: str | Path,
    *,
    workers: int = 2,
    chunk_size: int = 2048,
    progress: bool = True,
    spec: LogMelSpec | None = None,
) -> tuple[np.ndarray, RenderStats, int]:
    """Log-mel features of every utterance, ``(N, n_mels, n_frames)`` float32, in order.

    Speaks and featurises ``chunk_size`` utterances at a time, so only one chunk of
    waveforms is ever held (18k clips at 22 kHz would take ~5 GB at once).
    ``spec`` (default ``LogMelSpec()``) says how the features are computed. Also returns the
    summed render stats and how many clips were cropped to fit ``spec.n_frames``.
    """
    from tqdm.auto import tqdm

    spec = spec or LogMelSpec()
    started = time.perf_counter()
    features: np.ndarray | None = None
    rendered, cached, damaged, cropped, sample_rate = 0, 0, 0, 0, 0
    chunks = range(0, len(utterances), chunk_size)
    for start in tqdm(chunks, desc=f"speech ({backend})", unit="chunk", disable=not progress):
        waveforms, stats = render_speech(
            utterances[start : start + chunk_size], backend, cache_dir, workers, progress=False
        )
        chunk = spec.compute(waveforms, stats.sample_rate)
        if features is None:
            features = np.empty((len(utterances), *chunk.shape[1:]), dtype=np.float32)
        features[start : start + len(chunk)] = chunk
        cropped += spec.count_cropped(waveforms, stats.sample_rate)
        rendered, cached, damaged = (
            rendered + stats.rendered,
            cached + stats.cached,
            damaged + stats.damaged,
        )
        sample_rate = stats.sample_rate
    total = RenderStats(
        rendered=rendered,
        cached=cached,
        seconds=time.perf_counter() - started,
        sample_rate=sample_rate or backend_sample_rate(backend),
        damaged=damaged,
        workers=workers,
    )
    if features is None:
        features = np.empty((0, 0, 0), dtype=np.float32)
    return features, total, cropped
