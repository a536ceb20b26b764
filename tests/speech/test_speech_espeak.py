"""eSpeak NG backend: audio, voices, rate, repeatability, user errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from cemap.speech import (
    BACKENDS,
    DEFAULT_ESPEAK_VOICES,
    ESPEAK_SAMPLE_RATE,
    Utterance,
    check_backend_available,
    render_speech,
)
from cemap.speech.espeak import _sigint_deferred, get_engine
from cemap.speech.rendering import TRIM_MARGIN_S, TRIM_THRESHOLD, render_clip, trim_silence

SHORT = "red three"
MEDIUM = "red three and blue seven"
LONG = "yellow four on the left and cyan one on the right"


def clip(text: str = MEDIUM, voice: str = "en-us", rate: int = 175, pitch: int = 50) -> np.ndarray:
    return render_clip(Utterance(text, voice, rate, pitch), "espeak")


def test_espeak_is_available_quickly():
    started = time.perf_counter()
    check_backend_available("espeak")
    assert time.perf_counter() - started < 5
    assert list(BACKENDS) == ["espeak", "gtts", "piper"]


def test_speech_is_audible_float32_in_range(tmp_path):
    (waveform,), stats = render_speech(
        [Utterance(MEDIUM, "en-us", 175, 50)], "espeak", tmp_path, workers=1, progress=False
    )
    assert stats.sample_rate == ESPEAK_SAMPLE_RATE == 22050
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert np.abs(waveform).max() <= 1.0
    assert np.sqrt(np.mean(waveform**2)) > 0.02  # speech, not silence
    assert 1.0 < len(waveform) / stats.sample_rate < 3.0


def test_duration_grows_with_sentence_length():
    lengths = [len(clip(text)) for text in (SHORT, MEDIUM, LONG)]
    assert lengths[0] < lengths[1] < lengths[2]
    assert lengths[2] > 1.5 * lengths[0]


def test_slower_rate_gives_longer_clip():
    assert len(clip(LONG, rate=150)) > 1.2 * len(clip(LONG, rate=200))


def test_voices_and_variants_give_different_waveforms():
    voices = ["en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-us+m3"]
    clips = [clip(voice=voice) for voice in voices]
    for i in range(len(voices)):
        for j in range(i + 1, len(voices)):
            assert not np.array_equal(clips[i], clips[j]), (voices[i], voices[j])


def test_pitch_changes_waveform():
    assert not np.array_equal(clip(pitch=30), clip(pitch=70))


def test_default_voices_all_resolve():
    engine = get_engine()
    for voice in DEFAULT_ESPEAK_VOICES:
        engine.resolve_voice(voice)


def test_same_utterance_is_identical_whatever_came_before():
    first = clip(LONG, "en-us+f3", 160, 40)
    clip(MEDIUM, "en-gb+m3", 200, 70)
    clip(SHORT, "en-us", 150, 30)
    assert np.array_equal(first, clip(LONG, "en-us+f3", 160, 40))


def test_reset_engine_matches_a_freshly_loaded_library(tmp_path):
    """What the engine renders equals what a library reloaded before every clip renders."""
    utterances = [
        (LONG, "en-us+f3", 160, 40),
        (MEDIUM, "en-gb+m3", 200, 70),
        (SHORT, "en-us", 150, 30),
        (MEDIUM, "en-gb+f4", 180, 55),
    ]
    here = [get_engine().synthesize(*u) for u in utterances]
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from cemap.speech.espeak import EspeakEngine
        engine = EspeakEngine(state_reset="reload")
        assert engine.state_reset == "reload"
        clips = [engine.synthesize(*u) for u in reversed({utterances!r})][::-1]
        np.savez(sys.argv[1], *clips)
        """
    )
    out = tmp_path / "fresh.npz"
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, timeout=60)
    fresh = np.load(out)
    assert get_engine().state_reset == "statics"
    for i, samples in enumerate(here):
        assert np.array_equal(samples, fresh[f"arr_{i}"]), utterances[i]


def test_trim_keeps_a_short_margin_around_speech():
    samples = clip(LONG)
    margin = round(TRIM_MARGIN_S * ESPEAK_SAMPLE_RATE)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > TRIM_THRESHOLD * 32768)
    assert loud[0] <= margin
    assert len(samples) - 1 - loud[-1] <= margin

    padded = np.concatenate([np.zeros(5000, np.int16), samples, np.zeros(7000, np.int16)])
    trimmed = trim_silence(padded, ESPEAK_SAMPLE_RATE)
    assert np.array_equal(trimmed, padded[5000 + loud[0] - margin : 5000 + loud[-1] + 1 + margin])
    assert len(trim_silence(np.zeros(100, np.int16), ESPEAK_SAMPLE_RATE)) == 0


@pytest.mark.parametrize(
    ("voice", "expected"),
    [
        ("xx-nowhere", "'xx-nowhere'"),
        ("en-us+nosuchvariant", "'nosuchvariant'"),
        ("en-us+klatt", "Klatt"),
    ],
)
def test_unknown_voice_names_value_and_fix(tmp_path, voice, expected):
    with pytest.raises(ValueError, match="eSpeak NG") as error:
        render_speech([Utterance(MEDIUM, voice, 175, 50)], "espeak", tmp_path, progress=False)
    message = str(error.value)
    assert expected in message
    assert "en-us" in message or "+f" in message  # says what to use instead
    assert not list(tmp_path.rglob("*.wav"))


def test_rate_out_of_range_names_value_and_fix(tmp_path):
    with pytest.raises(ValueError, match=r"rate 20 wpm.*150-200"):
        render_speech([Utterance(MEDIUM, "en-us", 20, 50)], "espeak", tmp_path, progress=False)


def test_unknown_backend_names_value_and_choices(tmp_path):
    with pytest.raises(ValueError, match=r"'festival'.*espeak, gtts, piper"):
        render_speech([Utterance(MEDIUM, "en-us", 175, 50)], "festival", tmp_path)
    with pytest.raises(ValueError, match="'festival'"):
        check_backend_available("festival")


def test_ctrl_c_during_synthesis_is_raised_not_swallowed():
    """SIGINT lands while eSpeak NG synthesises (often inside the ctypes callback, which
    swallows exceptions): it must still stop the caller, and leave Python's handler in place."""
    engine = get_engine()
    long_text = "red three and blue seven on the left and on the right " * 5
    timer = threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            engine.synthesize(long_text, "en-us", 175, 50)
    timer.join()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # The engine still renders whole clips afterwards.
    again = engine.synthesize("red three and blue seven", "en-us", 175, 50)
    assert np.array_equal(again, engine.synthesize("red three and blue seven", "en-us", 175, 50))


def test_a_signal_during_the_deferred_block_is_raised_when_it_ends():
    finished = []
    with pytest.raises(KeyboardInterrupt), _sigint_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler has run: it recorded the signal, raised nothing
        finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
