"""Log-mel features, resampling, defaults, and drawing speakers."""

from __future__ import annotations

import numpy as np
import pytest

from cemap.speech import (
    DEFAULT_ESPEAK_VOICES,
    DEFAULT_HOP_LENGTH,
    DEFAULT_N_FFT,
    DEFAULT_N_FRAMES,
    DEFAULT_PITCH_RANGE,
    DEFAULT_RATE_RANGE,
    DEFAULT_VOICES,
    ESPEAK_SAMPLE_RATE,
    SILENCE_LOG_MEL,
    Utterance,
    count_cropped,
    draw_utterances,
    log_mel_features,
    render_speech,
    resample_to,
)

SETTINGS = {"n_mels": 64, "n_frames": 40, "n_fft": 512, "hop_length": 320}
# 40 frames x 320 samples at 16 kHz: clips up to 39 * 320 = 12,480 samples (0.78 s) fit.


def tone(seconds: float, sample_rate: int = ESPEAK_SAMPLE_RATE) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


def test_shape_dtype_padding_and_cropping():
    short, fits, long = tone(0.3), tone(0.7), tone(1.5)
    features = log_mel_features([short, fits, long], ESPEAK_SAMPLE_RATE, **SETTINGS)
    assert features.shape == (3, 64, 40)
    assert features.dtype == np.float32
    assert np.isfinite(features).all()

    # 0.3 s is 15 frames of 20 ms: the rest is padding, the log of silence exactly.
    assert np.all(features[0, :, 20:] == np.float32(SILENCE_LOG_MEL))
    assert features[0, :, :10].max() > SILENCE_LOG_MEL + 10
    # The cropped clip has sound up to its last frame.
    assert features[2, :, -1].max() > SILENCE_LOG_MEL + 10

    n_frames, hop = SETTINGS["n_frames"], SETTINGS["hop_length"]
    kwargs = {"n_frames": n_frames, "hop_length": hop}
    assert count_cropped([short, fits, long], ESPEAK_SAMPLE_RATE, **kwargs) == 1
    assert count_cropped([long, long], ESPEAK_SAMPLE_RATE, **kwargs) == 2


def test_batch_composition_does_not_change_a_clip():
    clips = [tone(s) for s in (0.2, 1.2, 0.5)]
    together = log_mel_features(clips, ESPEAK_SAMPLE_RATE, **SETTINGS)
    alone = log_mel_features(clips[:1], ESPEAK_SAMPLE_RATE, **SETTINGS)
    # Float rounding only: the conv sees a longer zero-padded row in the batch.
    np.testing.assert_allclose(together[0], alone[0], atol=1e-3)


def test_resample_to_changes_length_and_keeps_the_tone():
    waveform = tone(1.0)
    resampled = resample_to(waveform, ESPEAK_SAMPLE_RATE, 16000)
    assert resampled.dtype == np.float32
    assert len(resampled) == 16000
    peak_hz = np.argmax(np.abs(np.fft.rfft(resampled))) * 16000 / len(resampled)
    assert abs(peak_hz - 300) < 2
    assert np.array_equal(resample_to(waveform, 16000, 16000), waveform)


def test_longest_sentence_at_slowest_default_rate_is_not_cropped(tmp_path):
    longest = "magenta six on the left and magenta seven on the right"
    slowest = DEFAULT_RATE_RANGE[0]
    utterances = [
        Utterance(longest, voice, slowest, pitch)
        for voice in DEFAULT_ESPEAK_VOICES
        for pitch in DEFAULT_PITCH_RANGE
    ]
    waveforms, stats = render_speech(utterances, "espeak", tmp_path, workers=1, progress=False)
    defaults = {"n_frames": DEFAULT_N_FRAMES, "hop_length": DEFAULT_HOP_LENGTH}
    assert count_cropped(waveforms, stats.sample_rate, **defaults) == 0
    longest_s = max(len(w) for w in waveforms) / stats.sample_rate
    covered_s = (DEFAULT_N_FRAMES - 1) * DEFAULT_HOP_LENGTH / 16000
    assert 2.5 < longest_s < covered_s
    features = log_mel_features(
        waveforms[:2],
        stats.sample_rate,
        n_frames=DEFAULT_N_FRAMES,
        n_fft=DEFAULT_N_FFT,
        hop_length=DEFAULT_HOP_LENGTH,
    )
    assert features.shape == (2, 64, DEFAULT_N_FRAMES)


def test_draw_utterances_is_seeded_uniform_and_inclusive():
    texts = ["red one"] * 2000
    voices = DEFAULT_VOICES["espeak"]
    drawn = draw_utterances(texts, voices, (150, 152), (30, 31), np.random.default_rng(7))
    assert drawn == draw_utterances(texts, voices, (150, 152), (30, 31), np.random.default_rng(7))
    assert {u.text for u in drawn} == {"red one"}
    assert {u.voice for u in drawn} == set(voices)
    assert {u.rate for u in drawn} == {150, 151, 152}
    assert {u.pitch for u in drawn} == {30, 31}
    assert all(type(u.rate) is int and type(u.pitch) is int for u in drawn)
    counts = np.unique([u.voice for u in drawn], return_counts=True)[1]
    assert counts.min() > 2000 / len(voices) * 0.7


@pytest.mark.parametrize(
    ("voices", "rates", "match"),
    [([], (150, 200), "voices is empty"), (["en-us"], (200, 150), "rate_range")],
)
def test_draw_utterances_rejects_bad_arguments(voices, rates, match):
    with pytest.raises(ValueError, match=match):
        draw_utterances(["red one"], voices, rates, (30, 70), np.random.default_rng(0))


def test_render_log_mels_in_chunks_equals_one_pass(tmp_path):
    from cemap.speech import Utterance, log_mel_features, render_log_mels, render_speech

    utterances = [
        Utterance(text, voice, 170, 50)
        for text in ("red three and blue seven", "a green zero next to a cyan one")
        for voice in ("en-us", "en-gb+f3")
    ] + [Utterance("yellow four on the left and magenta nine on the right", "en-us", 150, 40)]
    waveforms, _ = render_speech(utterances, "espeak", tmp_path, workers=1, progress=False)
    expected = log_mel_features(waveforms, 22050, n_frames=32, hop_length=400)
    features, stats, cropped = render_log_mels(
        utterances,
        "espeak",
        tmp_path,
        workers=1,
        chunk_size=2,
        progress=False,
        n_frames=32,
        hop_length=400,
    )
    np.testing.assert_array_equal(features, expected)
    assert stats.cached == len(utterances) and stats.rendered == 0
    # 32 frames x 25 ms = 0.8 s: every one of these sentences is longer.
    assert cropped == len(utterances)
