"""The served model given hostile requests: every one raises naming the row, the bad value and
what to send instead — never an empty or silently wrong answer. Through MLflow (schema
enforcement included) on the smoke run's registered model, and on the generator directly."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader

from cemap.generate import load_local_generator
from cemap.inputs import GenerationError, prepare_waveform
from cemap.serving import REGISTERED_MODEL_NAME, images_for_requests
from cemap.settings import CONFIG_LOADER_ARGS

SENTENCE = "red three and blue seven"
RATE = 16000
SMOKE_MODEL = f"{REGISTERED_MODEL_NAME}-smoke"


def tone(seconds: float = 0.5, rate: int = RATE, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def served(smoke_evaluated_project):
    """The smoke run's registered pyfunc model, loaded by alias from the smoke run's store."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{smoke_evaluated_project}/mlflow.db")
    try:
        yield mlflow.pyfunc.load_model(f"models:/{SMOKE_MODEL}@champion")
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def generator(smoke_evaluated_project):
    return load_local_generator(smoke_evaluated_project, "data/smoke")


# --- through MLflow ---------------------------------------------------------------------------


def test_smoke_run_registers_its_own_name_with_champion_not_the_real_model(
    smoke_evaluated_project,
):
    client = mlflow.MlflowClient(f"sqlite:///{smoke_evaluated_project}/mlflow.db")
    names = {m.name for m in client.search_registered_models()}
    assert SMOKE_MODEL in names and REGISTERED_MODEL_NAME not in names
    assert str(client.get_model_version_by_alias(SMOKE_MODEL, "champion").version) == "1"


def test_catalog_registers_the_real_name_with_champion_and_smoke_its_own(robust_project):
    def entry(env):
        loader = OmegaConfigLoader(str(robust_project / "conf"), env=env, **CONFIG_LOADER_ARGS)
        return loader["catalog"]["cross_modal_image_model"]

    base, smoke = entry("local"), entry("smoke")
    assert base["save_args"]["registered_model_name"] == REGISTERED_MODEL_NAME
    assert base["alias"] == "champion"
    assert smoke["save_args"]["registered_model_name"] == SMOKE_MODEL


def test_a_valid_request_still_works(served):
    images = served.predict(pd.DataFrame({"text": [SENTENCE]}))
    assert images.shape == (1, 28, 56, 3) and images.dtype == np.uint8


def test_an_undeclared_column_is_an_error_not_an_empty_answer(served):
    with pytest.raises(GenerationError, match="no `text` or `audio` column") as error:
        served.predict(pd.DataFrame({"sentence": [SENTENCE]}))
    assert "sentence" in str(error.value) and "'text'" in str(error.value)


def test_nan_text_is_named_by_row_not_a_schema_error(served):
    with pytest.raises(GenerationError, match="Row 0 gives neither.*NaN.*`text` \\(a sentence"):
        served.predict(pd.DataFrame({"text": [float("nan")]}))


def test_int16_samples_through_mlflow_are_refused_with_the_scale(served):
    pcm = (tone() * 32767).astype(np.int16)
    with pytest.raises(GenerationError, match="beyond full scale.*32768"):
        served.predict(pd.DataFrame({"audio": [pcm]}))


@pytest.mark.parametrize("rate", [0, -16000])
def test_sample_rate_not_positive_through_mlflow(served, rate):
    frame = pd.DataFrame({"audio": [tone().tolist()], "sample_rate": [rate]})
    with pytest.raises(GenerationError, match=f"sample_rate={rate}.*positive"):
        served.predict(frame)


def test_nan_audio_through_mlflow_is_nan_not_silent(served):
    with pytest.raises(GenerationError, match="contains NaN") as error:
        served.predict(pd.DataFrame({"audio": [[float("nan")] * 8000]}))
    assert "silent" not in str(error.value)


def test_zero_channels_through_mlflow(served):
    frame = pd.DataFrame({"audio": [tone().tolist()], "channels": [0]})
    with pytest.raises(GenerationError, match="channels=0.*1 \\(mono\\) or 2"):
        served.predict(frame)


# --- the request parser -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "fragments"),
    [
        (pd.DataFrame(), ("no `text` or `audio` column", "none")),
        (pd.DataFrame({"sentence": [SENTENCE]}), ("`sentence`", "`text`", "`audio`")),
        (pd.DataFrame({"text": pd.Series([], dtype=object)}), ("no rows",)),
        (pd.DataFrame({"text": [None], "audio": [None]}), ("Row 0", "neither")),
        (pd.DataFrame({"text": [SENTENCE, None, None]}), ("Rows 1, 2", "neither")),
        (pd.DataFrame({"text": [SENTENCE], "audio": [[0.1] * 100]}), ("Row 0", "both")),
        (pd.DataFrame({"text": [123]}), ("row 0", "123", "int")),
        (pd.DataFrame({"text": ["  "]}), ("row 0", "empty")),
        (pd.DataFrame({"text": [SENTENCE, "purple three"]}), ("row 1", "'purple'")),
    ],
)
def test_bad_request_frames(generator, frame, fragments):
    with pytest.raises(GenerationError) as error:
        images_for_requests(generator, frame)
    for fragment in fragments:
        assert fragment in str(error.value), str(error.value)


def test_a_request_that_is_not_a_frame(generator):
    with pytest.raises(GenerationError, match="DataFrame"):
        images_for_requests(generator, [SENTENCE])


def test_int16_and_float_cells_give_the_same_image(generator):
    pcm = (tone() * 32767).astype(np.int16)
    as_float = pcm.astype(np.float32) / 32768
    images = images_for_requests(generator, pd.DataFrame({"audio": [pcm, as_float]}))
    np.testing.assert_array_equal(images[0], images[1])


# --- the waveform checks shared with `cemap generate` ------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"sample_rate": 0}, ("sample_rate=0", "16000")),
        ({"sample_rate": -8000}, ("sample_rate=-8000",)),
        ({"sample_rate": float("nan")}, ("sample_rate=nan",)),
        ({"sample_rate": 16000.5}, ("sample_rate=16000.5", "whole number")),
        ({"channels": 0}, ("channels=0",)),
        ({"channels": -2}, ("channels=-2",)),
        ({"channels": 3}, ("not a multiple of channels=3",)),
    ],
)
def test_prepare_waveform_refuses_bad_rates_and_channels(kwargs, fragments):
    arguments = {"sample_rate": RATE, "channels": 1, **kwargs}
    clip = tone()[:8000]  # 8000 samples: not a multiple of 3
    with pytest.raises(GenerationError) as error:
        prepare_waveform(clip, arguments["sample_rate"], RATE, arguments["channels"], "clip.wav")
    for fragment in fragments:
        assert fragment in str(error.value), str(error.value)
    assert "clip.wav" in str(error.value)


@pytest.mark.parametrize(
    ("samples", "fragments"),
    [
        (np.full(800, np.nan, dtype=np.float32), ("contains NaN", "finite")),
        (np.r_[tone(0.05), np.inf].astype(np.float32), ("infinite", "1 of 801")),
        (tone() * 4, ("beyond full scale", "32768")),
        (np.zeros(800, dtype=np.float32), ("silent",)),
        (np.zeros(0, dtype=np.float32), ("no samples",)),
        ((tone() * 2**30).astype(np.int32), ("int32", "int16")),
        (np.array(["a", "b"]), ("not a list of numbers",)),
        (np.zeros((2, 2, 2), dtype=np.float32), ("shape (2, 2, 2)",)),
    ],
)
def test_prepare_waveform_names_what_is_wrong_with_the_samples(samples, fragments):
    with pytest.raises(GenerationError) as error:
        prepare_waveform(samples, RATE, RATE, name="clip.wav")
    for fragment in fragments:
        assert fragment in str(error.value), str(error.value)


def test_int16_pcm_is_scaled_not_used_raw():
    pcm = (tone() * 32767).astype(np.int16)
    clip = prepare_waveform(pcm, RATE, RATE)
    np.testing.assert_allclose(clip, pcm / 32768, atol=1e-7)
    assert np.abs(clip).max() <= 1.0
