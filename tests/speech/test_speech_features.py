"""Log-mel features, resampling, defaults, and drawing speakers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cemap.speech import (
    DEFAULT_ESPEAK_VOICES,
    DEFAULT_PITCH_RANGE,
    DEFAULT_RATE_RANGE,
    DEFAULT_VOICES,
    ESPEAK_SAMPLE_RATE,
    LogMelSpec,
    Utterance,
    draw_utterances,
    render_speech,
    resample_to,
)

SPEC = LogMelSpec(n_mels=64, n_frames=40, n_fft=512, hop_length=320)
# 40 frames x 320 samples at 16 kHz: clips up to 39 * 320 = 12,480 samples (0.78 s) fit.
DEFAULT = LogMelSpec()


def tone(seconds: float, sample_rate: int = ESPEAK_SAMPLE_RATE) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


def test_shape_dtype_padding_and_cropping():
    short, fits, long = tone(0.3), tone(0.7), tone(1.5)
    features = SPEC.compute([short, fits, long], ESPEAK_SAMPLE_RATE)
    assert features.shape == (3, 64, 40)
    assert features.dtype == np.float32
    assert np.isfinite(features).all()

    # 0.3 s is 15 frames of 20 ms: the rest is padding, the log of silence exactly.
    assert np.all(features[0, :, 20:] == np.float32(SPEC.silence))
    assert features[0, :, :10].max() > SPEC.silence + 10
    # The cropped clip has sound up to its last frame.
    assert features[2, :, -1].max() > SPEC.silence + 10

    assert SPEC.count_cropped([short, fits, long], ESPEAK_SAMPLE_RATE) == 1
    assert SPEC.count_cropped([long, long], ESPEAK_SAMPLE_RATE) == 2


def test_batch_composition_does_not_change_a_clip():
    clips = [tone(s) for s in (0.2, 1.2, 0.5)]
    together = SPEC.compute(clips, ESPEAK_SAMPLE_RATE)
    alone = SPEC.compute(clips[:1], ESPEAK_SAMPLE_RATE)
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
    assert DEFAULT.count_cropped(waveforms, stats.sample_rate) == 0
    longest_s = max(len(w) for w in waveforms) / stats.sample_rate
    covered_s = DEFAULT.num_samples / DEFAULT.sample_rate
    assert 2.5 < longest_s < covered_s
    features = DEFAULT.compute(waveforms[:2], stats.sample_rate)
    assert features.shape == (2, 64, DEFAULT.n_frames)


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


@pytest.mark.parametrize("workers", [1, 2])
def test_render_log_mels_in_chunks_equals_one_pass(tmp_path, workers):
    import torch

    from cemap.speech import render_log_mels

    utterances = [
        Utterance(text, voice, 170, 50)
        for text in ("red three and blue seven", "a green zero next to a cyan one")
        for voice in ("en-us", "en-gb+f3")
    ] + [Utterance("yellow four on the left and magenta nine on the right", "en-us", 150, 40)]
    waveforms, _ = render_speech(utterances, "espeak", tmp_path, workers=1, progress=False)
    spec = LogMelSpec(n_frames=32, hop_length=400)
    expected = spec.compute(waveforms, 22050)
    threads = torch.get_num_threads()
    # workers=2: the chunks are featurised in this process and a worker process, each on one
    # torch thread; the features are the same bits as one pass in one process.
    features, stats, cropped = render_log_mels(
        utterances, "espeak", tmp_path, workers=workers, chunk_size=2, progress=False, spec=spec
    )
    np.testing.assert_array_equal(features, expected)
    assert torch.get_num_threads() == threads
    assert stats.cached == len(utterances) and stats.rendered == 0
    # 32 frames x 25 ms = 0.8 s: every one of these sentences is longer.
    assert cropped == len(utterances)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"n_fft": 2}, r"speech.n_fft=2 gives 2 frequency bins, too few for n_mels=64"),
        ({"n_fft": 64, "n_mels": 64}, r"need n_fft >= 254"),
        ({"hop_length": 2048}, r"speech.hop_length=2048 is longer than n_fft=1024"),
        ({"n_frames": 1}, r"speech.n_frames=1 must be at least 2"),
        ({"n_mels": 0}, r"speech.n_mels=0 must be a positive integer"),
        ({"log_offset": 0.0}, r"speech.log_offset=0.0 must lie in \(0, 1\)"),
    ],
)
def test_spec_rejects_settings_that_would_make_features_meaningless(settings, match):
    with pytest.raises(ValueError, match=match):
        LogMelSpec(**settings)


def test_spec_round_trips_through_a_plain_dict_and_checks_feature_shapes():
    assert LogMelSpec.from_dict(SPEC.to_dict()) == SPEC
    with pytest.raises(ValueError, match=r"unknown keys \['n_ffts'\]"):
        LogMelSpec.from_dict({**SPEC.to_dict(), "n_ffts": 3})
    SPEC.check_features(np.zeros((2, 64, 40), np.float32))
    with pytest.raises(ValueError, match=r"shape \(2, 32, 40\).*\(N, 64, 40\).*data_generation"):
        SPEC.check_features(np.zeros((2, 32, 40), np.float32))


def test_spec_inverts_its_own_features_to_audio():
    clip = tone(0.5)
    features = SPEC.compute([clip], ESPEAK_SAMPLE_RATE)
    audio = SPEC.to_waveform(torch.from_numpy(features[0]), n_iter=4)
    assert audio.shape == (SPEC.num_samples,)
    assert float(audio.abs().max()) == pytest.approx(0.9, abs=1e-4)
