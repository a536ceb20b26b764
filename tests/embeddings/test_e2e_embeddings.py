"""`kedro run --env smoke --pipelines=data_generation,embeddings` end to end, in a project copy.

It runs in the throwaway copy made by the shared ``smoke_data_project`` fixture (tests/conftest.py:
conf + pyproject, code from the installed package, MLflow in a store inside the copy), so the
user's ``data/`` and ``mlflow.db`` are never touched. data_generation has already run there once,
so its TTS cache is warm and re-running it in the same command costs little.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from cemap.models import load_trained_autoencoder
from tests.conftest import run_kedro

pytestmark = pytest.mark.e2e

SMOKE_DIMS = {"image": 8, "text": 8, "speech": 8}


@pytest.fixture(scope="module")
def embeddings_project(smoke_data_project):
    run_kedro(smoke_data_project, "run", "--env", "smoke", "--pipelines=data_generation,embeddings")
    return smoke_data_project


def test_outputs_of_every_modality(embeddings_project):
    root = embeddings_project / "data" / "smoke"
    metadata = pd.read_parquet(root / "03_primary" / "metadata.parquet")
    for modality, dim in SMOKE_DIMS.items():
        embeddings = np.load(root / "05_model_input" / f"{modality}_embeddings.npy")
        assert embeddings.shape == (len(metadata), dim) and embeddings.dtype == np.float32
        assert np.isfinite(embeddings).all()
        model = load_trained_autoencoder(modality, embeddings_project, data_root="data/smoke")
        assert model.modality == modality
        reporting = root / "08_reporting" / "embeddings"
        metrics = json.loads((reporting / f"{modality}_reconstruction_metrics.json").read_text())
        assert metrics["modality"] == modality and metrics["n_test"] == 60
        probes = json.loads((reporting / f"{modality}_probe_metrics.json").read_text())
        assert set(probes) == {
            "probe/mean",
            "probe/digit_left",
            "probe/color_left",
            "probe/digit_right",
            "probe/color_right",
        }
        history = pd.read_csv(reporting / f"{modality}_training_history.csv")
        assert {"epoch", "train/loss", "val/loss"} <= set(history.columns)
        assert (reporting / f"{modality}_reconstructions.png").stat().st_size > 0
    wavs = sorted((root / "08_reporting" / "embeddings" / "speech_reconstructions").glob("*.wav"))
    assert len(wavs) == 4
    audio, rate = sf.read(wavs[0])
    assert rate == 16000 and audio.ndim == 1 and len(audio) > 0
