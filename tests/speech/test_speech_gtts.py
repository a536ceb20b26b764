"""gTTS backend without the network: MP3 decoding, caching, fast offline failure."""

from __future__ import annotations

import io
import socket
import time

import numpy as np
import pytest
import soundfile as sf
from gtts import gTTS
from gtts.tts import gTTSError

from cemap.speech import (
    GTTS_SAMPLE_RATE,
    Utterance,
    check_backend_available,
    google_tts,
    render_speech,
)

TEXT = "red three and blue seven"


def mp3_bytes(sample_rate: int, seconds: float = 1.0, silence: float = 0.2) -> bytes:
    """A 440 Hz tone between stretches of silence, encoded by libsndfile's MP3 writer."""
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile cannot write MP3")
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    gap = np.zeros(round(silence * sample_rate), np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, np.concatenate([gap, tone, gap]), sample_rate, format="MP3")
    return buffer.getvalue()


@pytest.fixture
def fake_google(monkeypatch):
    """gTTS answers with a real MP3 and records what it was asked; network 'reachable'."""
    calls = []
    answer = {"mp3": mp3_bytes(GTTS_SAMPLE_RATE)}

    def write_to_fp(self, fp):
        calls.append({"text": self.text, "lang": self.lang, "tld": self.tld})
        fp.write(answer["mp3"])

    monkeypatch.setattr(gTTS, "write_to_fp", write_to_fp)
    monkeypatch.setattr(google_tts, "check_gtts_reachable", lambda: None)
    return calls, answer


def test_gtts_clip_is_decoded_at_the_backend_rate(tmp_path, fake_google):
    calls, _ = fake_google
    (waveform,), stats = render_speech(
        [Utterance(TEXT, "co.uk", 175, 50)], "gtts", tmp_path, workers=1, progress=False
    )
    assert calls == [{"text": TEXT, "lang": "en", "tld": "co.uk"}]
    assert stats.sample_rate == GTTS_SAMPLE_RATE == 24000
    assert waveform.dtype == np.float32
    # The silence around the tone is trimmed: about 1 s of tone plus the trim margins.
    assert 0.95 < len(waveform) / GTTS_SAMPLE_RATE < 1.1
    assert 0.45 < np.abs(waveform).max() <= 0.6
    # It is our 440 Hz tone.
    spectrum = np.abs(np.fft.rfft(waveform))
    assert abs(np.argmax(spectrum) * GTTS_SAMPLE_RATE / len(waveform) - 440) < 5


def test_gtts_clip_at_another_rate_is_resampled(tmp_path, fake_google):
    _, answer = fake_google
    answer["mp3"] = mp3_bytes(22050)
    (waveform,), stats = render_speech(
        [Utterance(TEXT, "com", 175, 50)], "gtts", tmp_path, workers=1, progress=False
    )
    assert stats.sample_rate == GTTS_SAMPLE_RATE
    assert 0.95 < len(waveform) / GTTS_SAMPLE_RATE < 1.1


def test_gtts_cache_ignores_rate_and_pitch(tmp_path, fake_google):
    calls, _ = fake_google
    utterances = [Utterance(TEXT, "com", 150, 30), Utterance(TEXT, "com", 200, 70)]
    waveforms, stats = render_speech(utterances, "gtts", tmp_path, workers=1, progress=False)
    assert stats.rendered == 1 and len(calls) == 1
    assert np.array_equal(waveforms[0], waveforms[1])
    _, stats = render_speech(utterances, "gtts", tmp_path, workers=1, progress=False)
    assert stats.rendered == 0 and len(calls) == 1


def test_gtts_offline_fails_fast_and_names_espeak(tmp_path, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    started = time.perf_counter()
    with pytest.raises(ConnectionError, match="espeak") as error:
        check_backend_available("gtts")
    assert "translate.google.com" in str(error.value)
    with pytest.raises(ConnectionError, match="backend: espeak"):
        render_speech([Utterance(TEXT, "com", 175, 50)], "gtts", tmp_path, progress=False)
    assert time.perf_counter() - started < 10
    assert not list(tmp_path.rglob("*.wav"))


def test_gtts_hanging_network_fails_within_the_deadline(monkeypatch):
    def hang(*args, **kwargs):
        time.sleep(30)

    monkeypatch.setattr(socket, "create_connection", hang)
    monkeypatch.setattr(google_tts, "GTTS_CONNECT_TIMEOUT_S", 0.2)
    started = time.perf_counter()
    with pytest.raises(ConnectionError, match="espeak"):
        check_backend_available("gtts")
    assert time.perf_counter() - started < 2


def test_gtts_request_failure_names_espeak(tmp_path, monkeypatch):
    def fail(self, fp):
        raise gTTSError("Failed to connect. Probable cause: timeout")

    monkeypatch.setattr(gTTS, "write_to_fp", fail)
    monkeypatch.setattr(google_tts, "check_gtts_reachable", lambda: None)
    with pytest.raises(ConnectionError, match=r"red three.*espeak"):
        render_speech([Utterance(TEXT, "com", 175, 50)], "gtts", tmp_path, progress=False)
    assert not list(tmp_path.rglob("*.wav"))


def test_gtts_bad_accent_names_value_and_fix(tmp_path, fake_google):
    with pytest.raises(ValueError, match=r"'en-us'.*'co.uk'"):
        render_speech([Utterance(TEXT, "en-us", 175, 50)], "gtts", tmp_path, progress=False)


def test_gtts_stalled_request_fails_within_the_deadline(tmp_path, monkeypatch):
    def stall(self, fp):
        time.sleep(30)

    monkeypatch.setattr(gTTS, "write_to_fp", stall)
    monkeypatch.setattr(google_tts, "check_gtts_reachable", lambda: None)
    monkeypatch.setattr(google_tts, "GTTS_REQUEST_TIMEOUT_S", 0.2)
    started = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"TimeoutError.*espeak"):
        render_speech([Utterance(TEXT, "com", 175, 50)], "gtts", tmp_path, progress=False)
    assert time.perf_counter() - started < 5
