"""Tiny untrained-but-valid checkpoints, a project holding them, and a temporary MLflow store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from mlflow.tracking._tracking_service import utils as tracking_utils

from cemap.data.sentences import DigitPair, describe
from cemap.joint import JointConfig, JointEmbeddingModel
from cemap.joint.checkpoint import joint_checkpoint
from cemap.models import (
    ImageVAE,
    ImageVAEConfig,
    SpeechAutoencoder,
    SpeechAutoencoderConfig,
    TextAutoencoder,
    TextAutoencoderConfig,
    save_autoencoder,
)
from cemap.speech.features import LogMelSpec
from tests.conftest import make_project_copy

COLORS = ("red", "green", "blue", "yellow", "cyan", "magenta")
DIMS = {"image": 8, "text": 8, "speech": 8}
# Every digit and colour, every template: the text autoencoder's vocabulary is the real one.
SENTENCES = [
    describe(DigitPair(d, COLORS[d % 6], (d + 5) % 10, COLORS[(d + 3) % 6]), d % 4)
    for d in range(10)
]


@pytest.fixture(scope="session")
def tiny_checkpoints() -> dict[str, dict]:
    """``{"joint", "image", "text", "speech"}`` -> checkpoint dicts of tiny untrained models."""
    torch.manual_seed(0)
    log_mels = np.random.default_rng(0).normal(-5, 3, size=(4, 16, 16)).astype(np.float32)
    autoencoders = {
        "image": ImageVAE(ImageVAEConfig(latent_dim=DIMS["image"], channels=4)),
        "text": TextAutoencoder.from_training_data(
            TextAutoencoderConfig(embedding_dim=DIMS["text"], word_dim=4, hidden_dim=8), SENTENCES
        ),
        "speech": SpeechAutoencoder.from_training_data(
            SpeechAutoencoderConfig(
                spec=LogMelSpec(n_mels=16, n_frames=16), latent_dim=DIMS["speech"], channels=4
            ),
            log_mels,
        ),
    }
    joint = JointEmbeddingModel(JointConfig(embedding_dims=dict(DIMS), latent_dim=4, hidden_dim=16))
    return {
        "joint": joint_checkpoint(joint),
        **{m: save_autoencoder(ae) for m, ae in autoencoders.items()},
    }


def write_checkpoints(checkpoints: dict[str, dict], models: Path) -> None:
    """Lay the checkpoints out as ``kedro run`` does under ``<data_root>/06_models``."""
    models.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoints["joint"], models / "joint_model.pt")
    for modality in DIMS:
        torch.save(checkpoints[modality], models / f"{modality}_autoencoder.pt")
    # joint_latent's speech autoencoder with the decoder adapted to the joint model
    torch.save(checkpoints["speech"], models / "speech_generation_autoencoder.pt")


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory, tiny_checkpoints) -> Path:
    """A project copy whose data/06_models holds the tiny checkpoints."""
    project = make_project_copy(tmp_path_factory.mktemp("tiny") / "project")
    write_checkpoints(tiny_checkpoints, project / "data" / "06_models")
    return project


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory) -> str:
    """A fresh sqlite tracking and registry store (never the user's) for one test module;
    returns the id of an experiment whose artifacts live beside it. The previous URI comes
    back afterwards."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder}/mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
        patch.setenv("MLFLOW_TRACKING_URI", uri)  # set_tracking_uri sets it; restored after
        patch.setenv("CEMAP_MLFLOW_TRACKING_URI", uri)  # what `cemap generate --model` reads
        mlflow.set_tracking_uri(uri)
        yield mlflow.create_experiment("serving", artifact_location=(folder / "art").as_uri())
        while mlflow.active_run():
            mlflow.end_run()
