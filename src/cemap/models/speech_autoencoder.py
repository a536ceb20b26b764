"""Convolutional autoencoder for log-mel spectrograms; its bottleneck is the speech embedding.

The mel bins are the channels of 1-D convolutions over time. Inputs are standardised per mel
bin with the training set's mean and standard deviation (kept as buffers, so they travel with
the weights); the decoder gives log-mel back in the original units.

    e = W flatten(conv(x_std)),   x_hat = deconv(e) * std + mean
    loss = mean((x_hat_std - x_std)^2)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

_DOWNSAMPLING = 8  # three stride-2 convolutions


@dataclass
class SpeechAutoencoderConfig:
    n_mels: int = 64
    n_frames: int = 128  # a multiple of 8
    latent_dim: int = 64
    channels: int = 64
    # How the features were computed, so a checkpoint alone can turn log-mels back into audio.
    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 400
    log_offset: float = 1e-6  # features are log(mel power + log_offset)


class SpeechEncoder(nn.Module):
    """Standardised log-mel ``(N, n_mels, T)`` -> embedding ``(N, latent_dim)``."""

    def __init__(self, config: SpeechAutoencoderConfig) -> None:
        super().__init__()
        c = config.channels
        self.features = nn.Sequential(
            nn.Conv1d(config.n_mels, c, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv1d(c, c, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv1d(c, c, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Flatten(),
        )
        self.to_embedding = nn.Linear(c * config.n_frames // _DOWNSAMPLING, config.latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_embedding(self.features(x))


class SpeechDecoder(nn.Module):
    """Embedding ``(N, latent_dim)`` -> standardised log-mel ``(N, n_mels, T)``."""

    def __init__(self, config: SpeechAutoencoderConfig) -> None:
        super().__init__()
        c = config.channels
        self.grid = (c, config.n_frames // _DOWNSAMPLING)
        self.from_embedding = nn.Linear(config.latent_dim, c * self.grid[1])
        self.render = nn.Sequential(
            nn.SiLU(),
            nn.ConvTranspose1d(c, c, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.ConvTranspose1d(c, c, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.ConvTranspose1d(c, config.n_mels, 4, stride=2, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.render(self.from_embedding(z).view(-1, *self.grid))


class SpeechAutoencoder(nn.Module):
    modality: ClassVar[str] = "speech"
    kind: ClassVar[str] = "speech_conv"

    def __init__(self, config: SpeechAutoencoderConfig) -> None:
        super().__init__()
        if config.n_frames % _DOWNSAMPLING:
            raise ValueError(
                f"SpeechAutoencoder needs a number of frames divisible by {_DOWNSAMPLING}; got "
                f"n_frames={config.n_frames}. Pad or crop the log-mel features to a multiple of 8."
            )
        self.config = config
        self.register_buffer("mean", torch.zeros(config.n_mels, 1))
        self.register_buffer("std", torch.ones(config.n_mels, 1))
        self.encoder = SpeechEncoder(config)
        self.decoder = SpeechDecoder(config)

    @classmethod
    def from_training_data(
        cls, config: SpeechAutoencoderConfig, features: np.ndarray
    ) -> SpeechAutoencoder:
        """A fresh autoencoder sized for ``features`` ``(N, n_mels, T)``, standardised by them."""
        _, n_mels, n_frames = features.shape
        model = cls(replace(config, n_mels=n_mels, n_frames=n_frames))
        x = torch.from_numpy(np.asarray(features, dtype=np.float32))
        model.mean.copy_(x.mean(dim=(0, 2))[:, None])
        model.std.copy_(x.std(dim=(0, 2)).clamp_min(1e-3)[:, None])
        return model

    @staticmethod
    def inputs_from(features: np.ndarray) -> torch.Tensor:
        """``(N, n_mels, T)`` log-mel array -> float32 tensor (standardising happens inside)."""
        return torch.from_numpy(np.asarray(features, dtype=np.float32))

    def encode(self, log_mel: torch.Tensor) -> torch.Tensor:
        """``(N, n_mels, T)`` log-mel -> embeddings ``(N, latent_dim)``."""
        return self.encoder((log_mel - self.mean) / self.std)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(N, latent_dim)`` -> log-mel ``(N, n_mels, T)`` in the input's units."""
        return self.decoder(z) * self.std + self.mean

    def reconstruct(self, log_mel: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(log_mel))

    def loss(self, log_mel: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (log_mel - self.mean) / self.std
        return {"loss": F.mse_loss(self.decoder(self.encoder(x)), x)}

    @staticmethod
    def reconstruction_metrics(
        log_mel: torch.Tensor, log_mel_hat: torch.Tensor
    ) -> dict[str, float]:
        """Mean squared error between log-mel spectrograms, in log-mel units."""
        return {"log_mel_mse": float((log_mel - log_mel_hat).pow(2).mean())}

    def to_waveform(self, log_mel: torch.Tensor, n_iter: int = 32) -> torch.Tensor:
        """Audio for ``(n_mels, T)`` or ``(N, n_mels, T)`` log-mel, with this model's settings."""
        c = self.config
        return to_waveform(
            log_mel,
            sample_rate=c.sample_rate,
            n_fft=c.n_fft,
            hop_length=c.hop_length,
            log_offset=c.log_offset,
            n_iter=n_iter,
        )


def to_waveform(
    log_mel: torch.Tensor,
    sample_rate: int = 16000,
    n_fft: int = 1024,
    hop_length: int = 400,
    log_offset: float = 1e-6,
    n_iter: int = 32,
) -> torch.Tensor:
    """Griffin-Lim audio ``(..., samples)`` float32 in [-1, 1] from log-mel ``(..., n_mels, T)``.

    Undoes ``log(mel power + log_offset)``, maps mel bins back to a linear-frequency power
    spectrogram (least squares, ``InverseMelScale``) and estimates the phase (``GriffinLim``, deterministic start).
    The settings must be those the features were computed with.
    """
    log_mel = log_mel.detach().float().cpu()
    mel_power = (log_mel.exp() - log_offset).clamp_min(0.0)
    inverse_mel = torchaudio.transforms.InverseMelScale(
        n_stft=n_fft // 2 + 1, n_mels=log_mel.shape[-2], sample_rate=sample_rate
    )
    griffin_lim = torchaudio.transforms.GriffinLim(
        n_fft=n_fft, hop_length=hop_length, power=2.0, n_iter=n_iter, rand_init=False
    )
    waveform = griffin_lim(inverse_mel(mel_power))
    peak = waveform.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8)
    return (waveform / peak * 0.9).clamp(-1.0, 1.0)
