"""Clip cache and parallel rendering: reuse, damage, interrupted writes, worker count."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cemap.speech import Utterance, render_speech, rendering
from cemap.speech import cache as cache_module
from cemap.speech.cache import ClipCache, clip_key, decode_wav, encode_wav

UTTERANCES = [
    Utterance("red three and blue seven", "en-us", 175, 50),
    Utterance("a green zero next to a magenta nine", "en-gb+m3", 160, 35),
    Utterance("yellow four on the left and cyan one on the right", "en-us+f3", 190, 65),
]


def render(cache_dir, utterances=UTTERANCES, workers=1):
    return render_speech(utterances, "espeak", cache_dir, workers=workers, progress=False)


def wav_files(cache_dir):
    return sorted(cache_dir.rglob("*.wav"))


def test_second_run_renders_nothing_and_returns_the_same_bytes(tmp_path):
    first, stats = render(tmp_path)
    assert (stats.rendered, stats.cached, stats.workers) == (3, 0, 1)
    assert len(wav_files(tmp_path)) == 3

    again, stats = render(tmp_path)
    assert (stats.rendered, stats.cached, stats.workers) == (0, 3, 0)
    assert [w.tobytes() for w in again] == [w.tobytes() for w in first]


def test_repeated_utterance_is_rendered_once_and_returned_in_order(tmp_path):
    utterances = [UTTERANCES[0], UTTERANCES[1], UTTERANCES[0]]
    waveforms, stats = render(tmp_path, utterances)
    assert stats.rendered == 2
    assert np.array_equal(waveforms[0], waveforms[2])
    assert len(waveforms[0]) != len(waveforms[1])


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) - 1000],  # truncated payload
        lambda data: data[: len(data) - 1],  # odd byte missing
        lambda data: data[:30],  # truncated header
        lambda data: b"JUNK" + data[4:],  # bad magic
        lambda data: data + b"\0\0",  # trailing garbage: length no longer matches
        lambda data: b"",  # empty file
    ],
)
def test_damaged_entry_is_detected_and_rendered_again(tmp_path, damage):
    first, _ = render(tmp_path)
    victim = wav_files(tmp_path)[0]
    victim.write_bytes(damage(victim.read_bytes()))

    again, stats = render(tmp_path)
    assert (stats.rendered, stats.cached, stats.damaged) == (1, 2, 1)
    assert [w.tobytes() for w in again] == [w.tobytes() for w in first]
    assert render(tmp_path)[1].rendered == 0  # repaired on disk


def test_wav_format_round_trips_and_rejects_other_rates():
    samples = np.array([0, 1, -1, 32767, -32768], dtype=np.int16)
    data = encode_wav(samples, 22050)
    assert len(data) == 44 + 10
    assert np.array_equal(decode_wav(data, 22050), samples)
    assert decode_wav(data, 24000) is None


def test_key_covers_every_field():
    base = ("espeak", "red one", "en-us", 175, 50, 22050)
    keys = {clip_key(*base)}
    for i, changed in enumerate(("gtts", "red two", "en-gb", 176, 51, 24000)):
        keys.add(clip_key(*base[:i], changed, *base[i + 1 :]))
    keys.add(clip_key(*base, engine="espeakng-loader 9.9"))
    assert len(keys) == 8


class _Interrupted(KeyboardInterrupt):
    pass


def test_interrupted_write_leaves_no_file_under_a_final_name(tmp_path, monkeypatch):
    real_fdopen = os.fdopen

    class HalfWriter:
        """Writes the header and half the samples, then the 'process is killed'."""

        def __init__(self, fd, mode):
            self._file = real_fdopen(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._file.close()

        def write(self, data):
            data = memoryview(data).cast("B")
            if len(data) <= 44:
                return self._file.write(data)  # the header
            self._file.write(data[: len(data) // 2])
            self._file.flush()
            raise _Interrupted

    monkeypatch.setattr(cache_module.os, "fdopen", HalfWriter)
    with pytest.raises(_Interrupted):
        render(tmp_path)
    assert wav_files(tmp_path) == []
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # temp file removed too

    monkeypatch.undo()
    _, stats = render(tmp_path)
    assert stats.rendered == 3


def test_crash_between_write_and_rename_leaves_no_final_file(tmp_path, monkeypatch):
    def crash(*args):
        raise _Interrupted

    monkeypatch.setattr(cache_module.os, "replace", crash)
    cache = ClipCache(tmp_path, "espeak", 22050)
    with pytest.raises(_Interrupted):
        cache.write("ab" * 32, np.zeros(10, np.int16))
    assert not cache.path("ab" * 32).exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_two_workers_give_the_same_bytes_as_one(tmp_path, monkeypatch):
    colours = ["red", "green", "blue", "cyan"]
    utterances = [
        Utterance(f"{c} {d} and {colours[(i + 1) % 4]} nine", v, 150 + 7 * i, 30 + 5 * i)
        for i, (c, d, v) in enumerate(
            zip(
                colours * 2,
                ["one", "two", "three", "four"] * 2,
                ["en-us", "en-gb+m3"] * 4,
                strict=True,
            )
        )
    ]
    one, stats_one = render(tmp_path / "one", utterances, workers=1)

    rendered_here = []
    real_render_clip = rendering.render_clip

    def render_clip_here(utterance, backend):
        rendered_here.append(utterance)
        return real_render_clip(utterance, backend)

    # Counts only this process's clips: spawned workers import the real function.
    monkeypatch.setattr(rendering, "render_clip", render_clip_here)
    monkeypatch.setattr(rendering, "MIN_CLIPS_PER_WORKER", 2)
    two, stats_two = render(tmp_path / "two", utterances, workers=2)
    assert (stats_one.workers, stats_two.workers) == (1, 2)
    assert stats_two.rendered == len(utterances)
    assert len(rendered_here) < len(utterances)  # the worker process rendered the rest
    assert [w.tobytes() for w in two] == [w.tobytes() for w in one]
    # The worker process wrote its part of the cache: the same files, byte for byte.
    files_one = {p.name: p.read_bytes() for p in wav_files(tmp_path / "one")}
    files_two = {p.name: p.read_bytes() for p in wav_files(tmp_path / "two")}
    assert files_one == files_two


def test_worker_failure_reaches_the_caller(tmp_path, monkeypatch):
    monkeypatch.setattr(rendering, "MIN_CLIPS_PER_WORKER", 1)
    utterances = [Utterance(f"red {d}", "en-us", 175, 50) for d in ("one", "two", "three")]
    # Passes the checks made in this process, fails inside eSpeak NG's range check.
    monkeypatch.setattr(rendering, "_check_utterance", lambda utterance, backend: None)
    utterances.append(Utterance("red four", "en-us", 10, 50))
    with pytest.raises(ValueError, match="rate 10 wpm"):
        render(tmp_path, utterances, workers=2)


def test_few_clips_are_rendered_in_process_even_with_many_workers(tmp_path):
    _, stats = render(tmp_path, workers=4)
    assert stats.workers == 1
