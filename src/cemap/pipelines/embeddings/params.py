"""Typed schema of ``params:embeddings``; Kedro validates it before any node runs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cemap.models import (
    ImageVAEConfig,
    SpeechAutoencoderConfig,
    TextAutoencoderConfig,
)
from cemap.training import TrainConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingParams(_Strict):
    """Optimisation budget of one autoencoder."""

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(5, ge=1, description="epochs without a better validation loss")


class ImageParams(_Strict):
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


class TextParams(_Strict):
    embedding_dim: int = Field(64, ge=1)
    word_dim: int = Field(32, ge=1)
    hidden_dim: int = Field(128, ge=1)
    noise_std: float = Field(0.05, ge=0, description="embedding noise while training")
    training: TrainingParams = TrainingParams()

    def autoencoder_config(self) -> TextAutoencoderConfig:
        return TextAutoencoderConfig(
            embedding_dim=self.embedding_dim,
            word_dim=self.word_dim,
            hidden_dim=self.hidden_dim,
            noise_std=self.noise_std,
        )


class AudioParams(_Strict):
    """How ``speech_features`` were computed (see data_generation.speech); used by Griffin-Lim."""

    sample_rate: int = Field(16000, ge=1)
    n_fft: int = Field(1024, ge=2)
    hop_length: int = Field(400, ge=1)
    log_offset: float = Field(1e-6, gt=0, description="features are log(mel power + log_offset)")
    griffin_lim_iterations: int = Field(32, ge=1)


class SpeechParams(_Strict):
    latent_dim: int = Field(64, ge=2, description="content dimensions + 1 for the duration")
    channels: int = Field(64, ge=1)
    content_frames: int = Field(96, ge=8, multiple_of=8, description="voiced part stretched to")
    voiced_threshold: float = Field(5.0, gt=0, description="log-mel above silence = voiced")
    audio: AudioParams = AudioParams()
    training: TrainingParams = TrainingParams()

    def autoencoder_config(self) -> SpeechAutoencoderConfig:
        return SpeechAutoencoderConfig(
            latent_dim=self.latent_dim,
            channels=self.channels,
            content_frames=self.content_frames,
            voiced_threshold=self.voiced_threshold,
            sample_rate=self.audio.sample_rate,
            n_fft=self.audio.n_fft,
            hop_length=self.audio.hop_length,
            log_offset=self.audio.log_offset,
        )


class EmbeddingsParams(_Strict):
    """Everything the embeddings pipeline needs; see conf/base/parameters_embeddings.yml."""

    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
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
        training = getattr(self, modality).training
        return TrainConfig(
            epochs=training.epochs,
            batch_size=training.batch_size,
            lr=training.lr,
            weight_decay=training.weight_decay,
            patience=training.patience,
            device=self.device,
            seed=self.seed,
            mixed_precision=self.mixed_precision,
            progress=self.progress,
            name=f"{modality} autoencoder",
        )
