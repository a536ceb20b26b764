"""Typed schema of ``params:embeddings``; Kedro validates it before any node runs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cemap.models import (
    ImageVAEConfig,
    SpeechAutoencoderConfig,
    TextAutoencoderConfig,
)
from cemap.pipelines.params import Device, StrictParams, TrainingBudget
from cemap.speech.augmentation import LogMelAugmentation
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


class AugmentationParams(StrictParams):
    """Perturbations of the clips the speech encoder reads (``LogMelAugmentation``)."""

    warp: tuple[float, float] = Field((1.0, 1.0), description="vocal-tract length factor range")
    gain_db: float = Field(0.0, ge=0, description="loudness change, +/- dB")
    snr_db: tuple[float, float] | None = Field(None, description="added-noise SNR range, dB")
    reverb: tuple[float, float] = Field((0.0, 0.0), description="reverberation time range, s")
    freq_masks: int = Field(0, ge=0)
    freq_mask_width: int = Field(8, ge=0, description="mels")
    time_masks: int = Field(0, ge=0)
    time_mask_width: int = Field(8, ge=0, description="content frames")
    probability: float = Field(0.5, ge=0, le=1, description="of each perturbation, per clip")

    def augmentation(self) -> LogMelAugmentation:
        return LogMelAugmentation(**self.model_dump())


class SpeechParams(StrictParams):
    latent_dim: int = Field(64, ge=2, description="content dimensions + 1 for the duration")
    channels: int = Field(64, ge=1)
    content_frames: int = Field(96, ge=8, multiple_of=8, description="voiced part stretched to")
    voiced_threshold: float = Field(5.0, gt=0, description="log-mel above silence = voiced")
    noise_std: float = Field(0.0, ge=0, description="content-code noise while training")
    utterance_norm: bool = Field(False, description="subtract each clip's per-bin mean")
    augmentation: AugmentationParams | None = Field(None, description="null: clean clips only")
    invariance: float = Field(0.0, ge=0, description="weight of the perturbed-clean code gap")
    speaker_dim: int = Field(16, ge=0, description="clip-wide code only the decoder reads; 0: none")
    audio: AudioParams = AudioParams()
    training: TrainingParams = TrainingParams()

    @model_validator(mode="after")
    def _invariance_needs_augmentation(self) -> SpeechParams:
        if self.invariance > 0 and self.augmentation is None:
            raise ValueError(
                f"embeddings.speech.invariance={self.invariance} compares the codes of a clip "
                "and its perturbed copy, so it needs embeddings.speech.augmentation; set one, "
                "or invariance: 0."
            )
        return self

    def autoencoder_config(self, spec: LogMelSpec) -> SpeechAutoencoderConfig:
        """The autoencoder for features computed with ``spec`` (the data's ``speech_spec``)."""
        return SpeechAutoencoderConfig(
            spec=spec,
            latent_dim=self.latent_dim,
            channels=self.channels,
            content_frames=self.content_frames,
            voiced_threshold=self.voiced_threshold,
            noise_std=self.noise_std,
            utterance_norm=self.utterance_norm,
            augmentation=None if self.augmentation is None else self.augmentation.augmentation(),
            invariance=self.invariance,
            speaker_dim=self.speaker_dim,
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
