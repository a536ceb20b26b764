"""The pyfunc model, logged through the catalog dataset and registered, in a temporary store."""

from __future__ import annotations

import pickle

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from kedro.io import DataCatalog
from PIL import Image

from cemap.cli import generate
from cemap.inputs import GenerationError
from cemap.joint.generation import ConditionalGenerator
from cemap.pipelines.evaluation.nodes import build_cross_modal_image_model
from cemap.serving import (
    CHAMPION_URI,
    REGISTERED_MODEL_NAME,
    CrossModalImageModel,
    CrossModalModelDataset,
)

SENTENCE = "red three and blue seven"
LATEST = f"models:/{REGISTERED_MODEL_NAME}/latest"
# The entry the evaluation pipeline's catalog uses (conf/base/catalog_evaluation.yml).
CATALOG = {
    "cross_modal_image_model": {
        "type": "cemap.serving.CrossModalModelDataset",
        "save_args": {"registered_model_name": REGISTERED_MODEL_NAME},
        "alias": "champion",
    }
}


@pytest.fixture(scope="module")
def registered(mlflow_store, tiny_checkpoints):
    """Log and register the model the way a Kedro node + catalog entry do, inside a run."""
    c = tiny_checkpoints
    catalog = DataCatalog.from_config(CATALOG)
    with mlflow.start_run(experiment_id=mlflow_store) as run:
        catalog.save(
            "cross_modal_image_model",
            build_cross_modal_image_model(c["joint"], c["image"], c["text"], c["speech"]),
        )
    return run.info.run_id


def reference_images(checkpoints, modality, inputs, **kwargs) -> np.ndarray:
    generator = ConditionalGenerator.from_checkpoints(
        checkpoints["joint"], {m: checkpoints[m] for m in ("image", "text", "speech")}, "cpu"
    )
    return generator.generate(modality, inputs, "image", **kwargs)


def test_latest_registered_model_turns_text_into_images(registered, tiny_checkpoints):
    model = mlflow.pyfunc.load_model(LATEST)
    images = model.predict(pd.DataFrame({"text": [SENTENCE, "Green one and cyan two."]}))
    assert images.shape == (2, 28, 56, 3) and images.dtype == np.uint8
    expected = reference_images(tiny_checkpoints, "text", [SENTENCE, "green one and cyan two"])
    np.testing.assert_array_equal(images, expected)


def test_signature_input_example_and_artifacts(registered):
    model = mlflow.pyfunc.load_model(LATEST)
    signature = model.metadata.signature
    inputs = {spec.name: spec for spec in signature.inputs.inputs}
    assert set(inputs) == {"text", "audio", "sample_rate", "channels"}
    assert not any(spec.required for spec in inputs.values())
    (output,) = signature.outputs.inputs
    assert output.type == np.dtype(np.uint8) and output.shape == (-1, 28, 56, 3)
    assert model.metadata.saved_input_example_info is not None
    version = mlflow.MlflowClient().get_registered_model(REGISTERED_MODEL_NAME).latest_versions
    assert version[0].run_id == registered
    champion = mlflow.MlflowClient().get_model_version_by_alias(REGISTERED_MODEL_NAME, "champion")
    assert champion.run_id == registered and CHAMPION_URI.endswith("@champion")
    # The weights are artifacts; the pickled model is only the class.
    assert len(pickle.dumps(model.unwrap_python_model())) < 10_000


def test_audio_rows_any_rate_stereo_and_mixed_frames(registered, tiny_checkpoints):
    model = mlflow.pyfunc.load_model(LATEST)
    rate = 16000
    mono = (0.3 * np.sin(np.arange(rate // 2) * 2 * np.pi * 220 / rate)).astype(np.float32)
    stereo_8k = np.stack([mono[::2], mono[::2]], axis=1).ravel()
    frame = pd.DataFrame(
        {
            "text": [SENTENCE, None, None],
            "audio": [None, mono.tolist(), stereo_8k.tolist()],
            # Integer columns cannot hold missing values: text rows give any rate, ignored.
            "sample_rate": [rate, rate, 8000],
            "channels": [1, 1, 2],
        }
    )
    images = model.predict(frame)
    assert images.shape == (3, 28, 56, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(
        images[0], reference_images(tiny_checkpoints, "text", [SENTENCE])[0]
    )
    np.testing.assert_array_equal(
        images[1], reference_images(tiny_checkpoints, "speech", [mono], embeddings=False)[0]
    )
    only_audio = model.predict(pd.DataFrame({"audio": [mono.tolist()]}))
    np.testing.assert_array_equal(only_audio[0], images[1])


def test_bad_requests_are_explained(registered):
    model = mlflow.pyfunc.load_model(LATEST)
    with pytest.raises(GenerationError, match="purple"):
        model.predict(pd.DataFrame({"text": ["purple three and blue seven"]}))
    with pytest.raises(GenerationError, match="neither of `text` and `audio`"):
        model.predict(pd.DataFrame({"text": [None], "audio": [None]}))


def test_model_without_checkpoints_cannot_be_logged(mlflow_store):
    with mlflow.start_run(experiment_id=mlflow_store), pytest.raises(Exception, match="joint"):
        CrossModalModelDataset().save(CrossModalImageModel())


def test_generate_command_takes_the_generator_from_an_mlflow_uri(registered, tmp_path):
    out = tmp_path / "from_registry.png"
    result = CliRunner().invoke(
        generate,
        ["--text", SENTENCE, "--model", LATEST, "--project-path", str(tmp_path), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert np.asarray(Image.open(out)).shape == (28, 56, 3)
    missing = CliRunner().invoke(
        generate,
        ["--text", SENTENCE, "--model", "models:/no-such-model/1", "--project-path", str(tmp_path)],
    )
    assert missing.exit_code != 0 and "Cannot load the MLflow model" in missing.output
    assert "Traceback" not in missing.output
