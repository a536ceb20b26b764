"""Small synthetic embeddings and tiny autoencoders for the joint-model tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cemap.concepts import MODALITIES
from cemap.joint import JointConfig, JointEmbeddingModel
from cemap.joint.synthetic import synthetic_paired_embeddings
from cemap.models import (
    ImageVAE,
    ImageVAEConfig,
    SpeechAutoencoder,
    SpeechAutoencoderConfig,
    TextAutoencoder,
    TextAutoencoderConfig,
)
from cemap.speech.features import LogMelSpec

TINY_DIMS = {"image": 8, "text": 6, "speech": 8}
SENTENCES = ["red one and blue two", "a green three next to a cyan four", "yellow five and red six"]


def tensors(embeddings: dict[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(embeddings[m]) for m in MODALITIES)


@pytest.fixture
def tiny_config() -> JointConfig:
    # The Lagrangian (the constrained form): the tests of the dual ascent and of the loss
    # equation need its multipliers and ε.
    return JointConfig(
        embedding_dims=dict(TINY_DIMS),
        latent_dim=4,
        hidden_dim=16,
        distance="wasserstein2",
        constraint="lagrangian",
    )


@pytest.fixture
def tiny_model(tiny_config) -> JointEmbeddingModel:
    torch.manual_seed(0)
    model = JointEmbeddingModel(tiny_config)
    embeddings, _ = synthetic_paired_embeddings(64, TINY_DIMS, seed=0)
    model.fit_normalizers(*tensors(embeddings))
    return model


@pytest.fixture(scope="session")
def tiny_autoencoders() -> dict[str, torch.nn.Module]:
    """Untrained autoencoders from ``cemap.models`` whose embedding widths are ``TINY_DIMS``."""
    torch.manual_seed(0)
    log_mels = np.random.default_rng(0).normal(size=(4, 16, 16)).astype(np.float32)
    return {
        "image": ImageVAE(ImageVAEConfig(latent_dim=TINY_DIMS["image"], channels=4)).eval(),
        "text": TextAutoencoder.from_training_data(
            TextAutoencoderConfig(embedding_dim=TINY_DIMS["text"], word_dim=4, hidden_dim=8),
            SENTENCES,
        ).eval(),
        "speech": SpeechAutoencoder.from_training_data(
            SpeechAutoencoderConfig(
                spec=LogMelSpec(n_mels=16, n_frames=16), latent_dim=TINY_DIMS["speech"], channels=4
            ),
            log_mels,
        ).eval(),
    }
