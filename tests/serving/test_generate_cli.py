"""`cemap generate`: outputs written, and every mistake a user can make answered in one line."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
import tomllib
from click.testing import CliRunner
from kedro.framework.cli.project import run as kedro_run
from PIL import Image

from cemap.cli import console, generate
from cemap.cli import run as cemap_run
from cemap.generate import load_local_generator, prepare_waveform
from tests.conftest import PROJECT_ROOT, make_project_copy

RATE = 16000


def invoke(project, *args: str):
    return CliRunner().invoke(generate, ["--project-path", str(project), *args])


def assert_clean_error(result, *fragments: str) -> None:
    """Non-zero exit, one `Error:` message containing every fragment, no traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert "Error:" in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def tone(seconds: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_console_script_keeps_kedro_run_beside_generate():
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["cemap"] == "cemap.cli:main"
    group = console()
    assert group.commands["run"] is cemap_run  # Kedro's run, checked first
    kedro_options = {p.name for p in kedro_run.params}
    assert kedro_options < {p.name for p in cemap_run.params}
    assert group.commands["generate"] is generate


def test_text_to_images(tiny_project, tmp_path):
    result = invoke(
        tiny_project, "--text", "Red three and blue seven.", "-n", "3", "--out", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    paths = sorted(tmp_path.glob("image_*.png"))
    assert len(paths) == 3
    assert Image.open(paths[0]).size == (56, 28)  # width, height


def test_text_to_one_named_png(tiny_project, tmp_path):
    out = tmp_path / "pair.png"
    result = invoke(tiny_project, "--text", "red three and blue seven", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert np.asarray(Image.open(out)).shape == (28, 56, 3)


def test_text_to_sentences(tiny_project, tmp_path):
    out = tmp_path / "sentences.txt"
    result = invoke(
        tiny_project,
        "--text",
        "red three and blue seven",
        "--to",
        "text",
        "-n",
        "2",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 2


def test_audio_to_speech_wavs(tiny_project, tmp_path):
    clip = tmp_path / "clip.wav"
    sf.write(clip, tone(1.0, RATE), RATE)
    out = tmp_path / "speech"
    result = invoke(
        tiny_project, "--audio", str(clip), "--to", "speech", "-n", "2", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    wavs = sorted(out.glob("speech_*.wav"))
    assert len(wavs) == 2
    audio, rate = sf.read(wavs[0])
    assert rate == RATE and audio.ndim == 1 and len(audio) > 0


def test_stereo_at_another_rate_is_downmixed_and_resampled(tiny_project, tmp_path, caplog):
    clip = tmp_path / "stereo.wav"
    left = tone(0.5, 8000)
    sf.write(clip, np.stack([left, 0.5 * left], axis=1), 8000)
    with caplog.at_level(logging.INFO, logger="cemap.generate"):
        result = invoke(tiny_project, "--audio", str(clip), "--out", str(tmp_path / "out.png"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.png").is_file()
    assert "Mixing the 2 channels" in caplog.text
    assert "from 8000 Hz to 16000 Hz" in caplog.text


def test_prepare_waveform_downmixes_interleaved_stereo_and_resamples():
    mono = tone(0.25, 8000)
    interleaved = np.stack([mono, mono], axis=1).ravel()
    clip = prepare_waveform(interleaved, 8000, RATE, channels=2)
    assert clip.dtype == np.float32 and clip.ndim == 1
    assert abs(len(clip) - 2 * len(mono)) <= 1
    same = prepare_waveform(mono, RATE, RATE)
    np.testing.assert_array_equal(same, mono)


def test_unknown_words_are_named_with_the_vocabulary(tiny_project):
    result = invoke(tiny_project, "--text", "purple three and blue eleven")
    assert_clean_error(result, "'purple'", "'eleven'", "magenta", "zero", "nine")


@pytest.mark.parametrize("text", ["", "   ", "?!"])
def test_empty_text(tiny_project, text):
    assert_clean_error(invoke(tiny_project, "--text", text), "red three and blue seven")


def test_unreadable_audio_file(tiny_project, tmp_path):
    garbage = tmp_path / "garbage.wav"
    garbage.write_text("not audio at all")
    assert_clean_error(invoke(tiny_project, "--audio", str(garbage)), "Cannot read", "garbage.wav")
    missing = tmp_path / "missing.wav"
    assert_clean_error(
        invoke(tiny_project, "--audio", str(missing)), "no audio file", "missing.wav"
    )


def test_silent_audio(tiny_project, tmp_path):
    clip = tmp_path / "silence.wav"
    sf.write(clip, np.zeros(RATE, dtype=np.float32), RATE)
    assert_clean_error(invoke(tiny_project, "--audio", str(clip)), "silent", "silence.wav")


def test_missing_trained_model_says_to_run_kedro(tmp_path):
    project = make_project_copy(tmp_path / "untrained")
    assert_clean_error(
        invoke(project, "--text", "red three and blue seven"), "kedro run", "joint_model.pt"
    )


def test_output_suffix_must_fit_the_target(tiny_project, tmp_path):
    result = invoke(
        tiny_project, "--text", "red three and blue seven", "--out", str(tmp_path / "x.wav")
    )
    assert_clean_error(result, ".png")


def test_exactly_one_input(tiny_project, tmp_path):
    result = invoke(tiny_project, "--text", "red three and blue seven", "--audio", "x.wav")
    assert result.exit_code == 2 and "exactly one of --text and --audio" in result.output


def test_notebook_api_matches_the_command(tiny_project, tmp_path):
    from cemap.generate import generate_from_text

    generator = load_local_generator(tiny_project)
    images = generate_from_text(generator, "red three and blue seven")
    invoke(tiny_project, "--text", "red three and blue seven", "--out", str(tmp_path / "a.png"))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")), images[0])


@pytest.mark.e2e
def test_env_picks_the_data_root_of_a_real_run(smoke_trained_project, tmp_path):
    out = tmp_path / "smoke.png"
    result = invoke(
        smoke_trained_project,
        "--env",
        "smoke",
        "--text",
        "red three and blue seven",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert np.asarray(Image.open(out)).shape == (28, 56, 3)
