"""Typed schema of ``params:embeddings``; Kedro validates it before any node runs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cemap.models import (
    ImageVAEConfig,
    SpeechAutoencoderConfig,
    TextAutoencoderConfig,
)
from cemap.pipelines.params import Device, StrictParams, TrainingBudget
from cemap.speech.features import LogMelSpec
from cemap.training import TrainConfig


class TrainingParams(TrainingBudget):
    """Optimisation budget of one autoencoder."""


class ImageParams(StrictParams):
    latent_dim: int = Field(64, ge=1)
    channels: int = Field(32, ge=1, description="width of the first convolution")
    beta: float = Field(1.0, ge=0, description="weight of the KL term")
    reconstruction: Literal["bce", "mse"] = "bce"
    training: TrainingParams = TrainingParams()

    def autoencoder_config(self) -> ImageVAEConfig:
        return ImageVAEConfig(
            latent_dim=self.latent_dim,
            channels=self.channels,
            beta=self.beta,
            reconstruction=self.reconstruction,
        )


class TextParams(StrictParams):
    embedding_dim: int = Field(64, ge=1)
    word_dim: int = Field(32, ge=1)
    hidden_dim: int = Field(128, ge=1)
    noise_std: float = Field(0.3, ge=0, description="embedding noise while training")
    training: TrainingParams = TrainingParams()

    def autoencoder_config(self) -> TextAutoencoderConfig:
        return TextAutoencoderConfig(
            embedding_dim=self.embedding_dim,
            word_dim=self.word_dim,
            hidden_dim=self.hidden_dim,
            noise_std=self.noise_std,
        )


class AudioParams(StrictParams):
    """Griffin-Lim settings for the audio examples; how the features were computed comes from
    the data (``speech_spec``), never from here."""

    griffin_lim_iterations: int = Field(32, ge=1)


class SpeechParams(StrictParams):
    latent_dim: int = Field(64, ge=2, description="content dimensions + 1 for the duration")
    channels: int = Field(64, ge=1)
    content_frames: int = Field(96, ge=8, multiple_of=8, description="voiced part stretched to")
    voiced_threshold: float = Field(5.0, gt=0, description="log-mel above silence = voiced")
    noise_std: float = Field(0.0, ge=0, description="content-code noise while training")
    audio: AudioParams = AudioParams()
    training: TrainingParams = TrainingParams()

    def autoencoder_config(self, spec: LogMelSpec) -> SpeechAutoencoderConfig:
        """The autoencoder for features computed with ``spec`` (the data's ``speech_spec``)."""
        return SpeechAutoencoderConfig(
            spec=spec,
            latent_dim=self.latent_dim,
            channels=self.channels,
            content_frames=self.content_frames,
            voiced_threshold=self.voiced_threshold,
            noise_std=self.noise_std,
        )


class EmbeddingsParams(StrictParams):
    """Everything the embeddings pipeline needs; see conf/base/parameters_embeddings.yml."""

    device: Device = "auto"
    seed: int = 0
    mixed_precision: bool = True
    progress: bool = True
    inference_batch_size: int = Field(512, ge=1)
    n_examples: int = Field(8, ge=1, description="test samples in figures and audio examples")
    probe_max_train: int = Field(3000, ge=10, description="train rows of each linear probe")
    image: ImageParams = ImageParams()
    text: TextParams = TextParams()
    speech: SpeechParams = SpeechParams()

    def train_config(self, modality: Literal["image", "text", "speech"]) -> TrainConfig:
        """The ``fit`` settings for one modality's autoencoder."""
        return getattr(self, modality).training.train_config(
            f"{modality} autoencoder",
            device=self.device,
            seed=self.seed,
            progress=self.progress,
            mixed_precision=self.mixed_precision,
        )
