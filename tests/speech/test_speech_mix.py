"""Backend strategies and voice mixes: every backend's contract, weights, knobs, mixed rendering."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from cemap.speech import (
    BACKENDS,
    BackendShare,
    LogMelSpec,
    SpeechBackend,
    Utterance,
    VoiceMix,
    render_log_mels,
    render_mixed,
    render_speech,
)
from cemap.speech.rendering import _clip_key

TEXTS = [f"red {d} and blue seven" for d in ("one", "two", "three", "four", "five")] * 200


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_backend_keeps_the_strategy_contract(name):
    backend = BACKENDS[name]
    assert isinstance(backend, SpeechBackend) and backend.name == name
    assert backend.sample_rate >= 16000 and backend.default_voices
    for voice in backend.default_voices:
        backend.check_voice(voice)  # no network needed, even for gtts
    with pytest.raises(ValueError, match="'xx-klingon'"):
        backend.check_voice("xx-klingon")
    for knob in backend.knobs.values():
        assert knob.check_range(*knob.default_range) is None
        assert knob.check_range(knob.limits[0] - 1, knob.limits[1]) is not None
    # What goes into the cache key is plain JSON, and every knob the engine uses splits it.
    knobs = {k: v.default_range[0] for k, v in backend.knobs.items()}
    utterance = Utterance.with_knobs("red one", backend.default_voices[0], name, knobs)
    json.dumps(backend.cache_fields(utterance))
    keys = {_clip_key(utterance, name)}
    for knob_name, knob in backend.knobs.items():
        changed = {**knobs, knob_name: knob.default_range[1]}
        keys.add(_clip_key(Utterance.with_knobs("red one", utterance.voice, name, changed), name))
    assert len(keys) == 1 + len(backend.knobs)


def test_mix_follows_its_weights_exactly_and_draws_knobs_in_range():
    mix = VoiceMix(
        (
            BackendShare.build("espeak", 0.7, ["en-us", "en-gb"], ["m3", "f4"]),
            BackendShare.build("piper", 0.2, knobs={"length_scale": [0.9, 1.1]}),
            BackendShare.build("gtts", 0.1),
        )
    )
    utterances = mix.draw(TEXTS, np.random.default_rng(0))
    counts = Counter(u.backend for u in utterances)
    assert counts == {"espeak": 700, "piper": 200, "gtts": 100}
    assert [u.text for u in utterances] == TEXTS
    espeak = [u for u in utterances if u.backend == "espeak"]
    voices = Counter(u.voice for u in espeak)
    assert set(voices) == {"en-us", "en-gb", "en-us+m3", "en-us+f4", "en-gb+m3", "en-gb+f4"}
    assert all(abs(n - 700 / 6) < 40 for n in voices.values())  # uniform within tolerance
    assert all(150 <= u.rate <= 200 and 30 <= u.pitch <= 70 for u in espeak)
    assert all(isinstance(u.rate, int) for u in espeak)
    piper = [u.knob_values() for u in utterances if u.backend == "piper"]
    assert all(0.9 <= k["length_scale"] <= 1.1 for k in piper)
    assert all(0.4 <= k["noise_scale"] <= 0.9 for k in piper)  # the backend's default range
    assert len({k["length_scale"] for k in piper}) > 50
    assert all(not u.knob_values() for u in utterances if u.backend == "gtts")
    # The order of the rows is random: the backends are not in blocks.
    assert {u.backend for u in utterances[:100]} == {"espeak", "piper", "gtts"}


def test_mix_draws_are_seeded():
    mix = VoiceMix((BackendShare.build("espeak", 3), BackendShare.build("piper", 1)))
    assert mix.draw(TEXTS[:50], np.random.default_rng(1)) == mix.draw(
        TEXTS[:50], np.random.default_rng(1)
    )
    assert mix.draw(TEXTS[:50], np.random.default_rng(1)) != mix.draw(
        TEXTS[:50], np.random.default_rng(2)
    )


def test_mix_weights_round_to_exact_counts_for_small_sets():
    mix = VoiceMix((BackendShare.build("espeak", 0.95), BackendShare.build("piper", 0.05)))
    counts = Counter(u.backend for u in mix.draw(TEXTS[:31], np.random.default_rng(0)))
    assert counts == {"espeak": 29, "piper": 2}  # 29.45 / 1.55: the largest remainder wins


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        (BackendShare("espeak", 1.0, ("xx-klingon",)), r"mix.espeak.voices has 'xx-klingon'"),
        (BackendShare("festival", 1.0, ("x",)), r"unknown speech backend 'festival'"),
        (BackendShare("espeak", 0.0, ("en-us",)), r"mix.espeak.weight=0.0 must be > 0"),
        (
            BackendShare("piper", 1.0, ("en_US-joe-medium",), (("noise_scale", (0.5, 9.0)),)),
            r"mix.piper.knobs.noise_scale=\[0.5, 9.0\] is outside the accepted \[0.0, 1.5\]",
        ),
        (
            BackendShare("gtts", 1.0, ("com",), (("rate", (150, 200)),)),
            r"mix.gtts.knobs has 'rate'.*knobs are none",
        ),
    ],
)
def test_mix_check_names_the_key_the_value_and_the_fix(share, expected):
    with pytest.raises(ValueError, match=expected):
        VoiceMix((share,)).check("mix")


def test_mixed_backends_render_and_featurise_together(tmp_path):
    utterances = [
        Utterance("red three and blue seven", "en-us", 175, 50, backend="espeak"),
        Utterance.with_knobs(
            "red three and blue seven",
            "en_US-joe-medium",
            "piper",
            {"length_scale": 1.0, "noise_scale": 0.6, "noise_w_scale": 0.8},
        ),
        Utterance("a green zero next to a cyan one", "en-gb+f3", 160, 40, backend="espeak"),
    ]
    clips, stats = render_mixed(utterances, tmp_path, workers=1, progress=False)
    assert stats.rendered == 3 and [rate for _, rate in clips] == [22050] * 3
    alone, _ = render_speech(utterances[1:2], "piper", tmp_path, workers=1, progress=False)
    assert np.array_equal(clips[1][0], alone[0])

    spec = LogMelSpec(n_frames=64)
    features, stats, _ = render_log_mels(utterances, None, tmp_path, workers=1, spec=spec)
    assert features.shape == (3, 64, 64) and stats.rendered == 0 and stats.cached == 3
    expected = spec.compute([clips[1][0]], 22050)[0]
    np.testing.assert_array_equal(features[1], expected)


def test_an_utterance_for_another_backend_is_refused(tmp_path):
    espeak = Utterance("red one", "en-us", 175, 50, backend="espeak")
    with pytest.raises(ValueError, match="for the espeak backend, not piper"):
        render_speech([espeak], "piper", tmp_path, progress=False)
