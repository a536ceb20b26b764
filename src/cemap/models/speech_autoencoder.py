"""Convolutional autoencoder for log-mel spectrograms; its bottleneck is the speech embedding.

Speakers differ in rate, so the same word lands on different frames from clip to clip. The
encoder therefore first cuts the trailing silence and stretches the voiced part to a fixed
number of frames (no labels involved), and keeps the stretch factor as the last embedding
dimension; the decoder draws the fixed-length content and stretches it back. In that
duration-normalised time the mel bins are the channels of 1-D convolutions, standardised with
the training set's per-bin mean and standard deviation (buffers, so they travel with the
weights):

    L = voiced frames of x,   c = stretch(x[:, :, :L], K),   c_std = (c - mean) / std
    e = [W flatten(conv(c_std)),  log(L / T)]                 (the embedding, latent_dim)
    x_hat = unstretch(deconv(e[:-1]) * std + mean, L = T exp(e[-1])), silence after L
    loss = mean((deconv(e[:-1]) - c_std)^2)

Speaker robustness, all without labels and all optional (``SpeechAutoencoderConfig``):

- ``utterance_norm``: each clip's own per-bin mean over its voiced frames (its voice's spectral
  envelope, loudness and channel) is subtracted before the standardisation, so the code keeps
  what changes within the clip; the decoder speaks with the training set's average envelope
  (the ``voice`` buffer).
- ``augmentation``: the encoder reads a perturbed copy of the clip
  (:class:`cemap.speech.augmentation.LogMelAugmentation`: vocal-tract warp, gain, noise,
  reverberation, SpecAugment masks) and the decoder must still give the clean content back;
- ``invariance``: weight of the distance between the codes of the perturbed and the clean clip,
  relative to the codes' spread, so that who speaks moves the code as little as possible.

The speaker code (``speaker_dim`` > 0; 0 in checkpoints from before it): a second, small
encoder reads the clip, averages over time and gives a ``speaker_dim`` vector that only the
decoder reads, beside the content code. What is the same all through a clip (voice, loudness,
channel) can then reach the decoder without taking room in the embedding, which keeps more of
what changes within the clip — the words. The embedding is still the content code and the
duration; decoding an embedding alone (generation) speaks with ``mean_speaker``, the average
speaker code of the training clips (a running mean over the last batches of training):

    s = mean_t(speaker_conv(c_std)),   loss = mean((deconv([e[:-1], s]) - c_std)^2)
    x_hat(e) = unstretch(deconv([e[:-1], mean_speaker]) * std + mean, ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cemap.speech.augmentation import LogMelAugmentation
from cemap.speech.features import LogMelSpec, interpolate_last_axis

_DOWNSAMPLING = 8  # three stride-2 convolutions
_STATISTICS_CHUNK = 1024  # clips per step of the standardisation statistics
_SPEAKER_MOMENTUM = 0.99  # running mean of the speaker codes: about the last 100 batches


@dataclass
class SpeechAutoencoderConfig:
    # How the features were computed (the data's ``speech_spec``), so a checkpoint alone can
    # read new audio and turn log-mels back into audio; a plain dict in checkpoints.
    spec: LogMelSpec = field(default_factory=LogMelSpec)
    content_frames: int = 96  # the voiced part is stretched to this many frames; a multiple of 8
    latent_dim: int = 64  # latent_dim - 1 content dimensions and the log relative duration
    channels: int = 64
    # A frame is voiced when its loudest mel bin is this far (natural log) above silence.
    voiced_threshold: float = 5.0
    # Gaussian noise added to the content code while training the decoder (0: none), so it
    # learns to read codes near, not on, a clip's — as the joint model's generated ones are.
    noise_std: float = 0.0
    # Speaker robustness (module docstring): per-utterance normalisation, denoising from
    # perturbed clips, and the weight of the perturbed-clean code distance.
    utterance_norm: bool = False
    augmentation: LogMelAugmentation | None = None
    invariance: float = 0.0
    # Width of the speaker code only the decoder reads (module docstring); 0: none, as in
    # checkpoints written before it existed.
    speaker_dim: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.spec, Mapping):  # rebuilt from a checkpoint
            self.spec = LogMelSpec.from_dict(self.spec)
        if isinstance(self.augmentation, Mapping):
            self.augmentation = LogMelAugmentation.from_dict(dict(self.augmentation))
        if self.invariance < 0:
            raise ValueError(f"SpeechAutoencoder needs invariance >= 0; got {self.invariance}.")
        if self.speaker_dim < 0:
            raise ValueError(f"SpeechAutoencoder needs speaker_dim >= 0; got {self.speaker_dim}.")
        if self.invariance > 0 and self.augmentation is None:
            raise ValueError(
                f"SpeechAutoencoder invariance={self.invariance} compares the codes of a clip "
                f"and of its perturbed copy, so it needs an augmentation; set one, or "
                f"invariance: 0."
            )

    @property
    def n_mels(self) -> int:
        return self.spec.n_mels

    @property
    def n_frames(self) -> int:
        """Frames of the input features."""
        return self.spec.n_frames


def _halving_convolutions(in_channels: int, channels: int, n: int) -> list[nn.Module]:
    """``n`` convolutions that each halve the time axis (kernel 4, stride 2), SiLU after each."""
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [nn.Conv1d(in_channels if i == 0 else channels, channels, 4, 2, 1), nn.SiLU()]
    return layers


class SpeechEncoder(nn.Module):
    """Standardised content ``(N, n_mels, K)`` -> content code ``(N, latent_dim - 1)``."""

    def __init__(self, config: SpeechAutoencoderConfig) -> None:
        super().__init__()
        c = config.channels
        self.features = nn.Sequential(*_halving_convolutions(config.n_mels, c, 3), nn.Flatten())
        self.to_code = nn.Linear(c * config.content_frames // _DOWNSAMPLING, config.latent_dim - 1)

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return self.to_code(self.features(content))


class SpeakerEncoder(nn.Module):
    """Standardised content ``(N, n_mels, K)`` -> speaker code ``(N, speaker_dim)``: two
    convolutions, then the mean over time, so it holds what the whole clip shares."""

    def __init__(self, config: SpeechAutoencoderConfig) -> None:
        super().__init__()
        c = config.channels
        self.features = nn.Sequential(*_halving_convolutions(config.n_mels, c, 2))
        self.to_code = nn.Linear(c, config.speaker_dim)

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return self.to_code(self.features(content).mean(dim=2))


class SpeechDecoder(nn.Module):
    """Content code ``(N, latent_dim - 1)`` and speaker code ``(N, speaker_dim)`` ->
    standardised content ``(N, n_mels, K)``."""

    def __init__(self, config: SpeechAutoencoderConfig) -> None:
        super().__init__()
        c = config.channels
        self.grid = (c, config.content_frames // _DOWNSAMPLING)
        self.from_code = nn.Linear(config.latent_dim - 1 + config.speaker_dim, c * self.grid[1])
        self.render = nn.Sequential(
            nn.SiLU(),
            nn.ConvTranspose1d(c, c, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.ConvTranspose1d(c, c, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.ConvTranspose1d(c, config.n_mels, 4, stride=2, padding=1),
        )

    def forward(self, code: torch.Tensor, speaker: torch.Tensor) -> torch.Tensor:
        return self.render(self.from_code(torch.cat([code, speaker], dim=1)).view(-1, *self.grid))


class SpeechAutoencoder(nn.Module):
    modality: ClassVar[str] = "speech"
    kind: ClassVar[str] = "speech_conv"

    def __init__(self, config: SpeechAutoencoderConfig) -> None:
        super().__init__()
        if config.content_frames % _DOWNSAMPLING or config.content_frames <= 0:
            raise ValueError(
                f"SpeechAutoencoder needs content_frames to be a positive multiple of "
                f"{_DOWNSAMPLING}; got content_frames={config.content_frames}."
            )
        if config.latent_dim < 2:
            raise ValueError(f"SpeechAutoencoder needs latent_dim >= 2; got {config.latent_dim}.")
        self.config = config
        self.silence = config.spec.silence
        self.register_buffer("mean", torch.zeros(config.n_mels, 1))
        self.register_buffer("std", torch.ones(config.n_mels, 1))
        # The average voice (per-bin mean of a clip) the decoder speaks with (utterance_norm).
        self.register_buffer("voice", torch.zeros(config.n_mels, 1))
        # The speaker code a decoded embedding is spoken with (speaker_dim > 0).
        self.register_buffer("mean_speaker", torch.zeros(1, config.speaker_dim))
        self.encoder = SpeechEncoder(config)
        self.speaker = SpeakerEncoder(config) if config.speaker_dim else None
        self.decoder = SpeechDecoder(config)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        # Checkpoints from before utterance_norm have no voice buffer, from before the speaker
        # code no mean_speaker; theirs are zero (and empty).
        state_dict.setdefault(prefix + "voice", torch.zeros_like(self.voice))
        state_dict.setdefault(prefix + "mean_speaker", torch.zeros_like(self.mean_speaker))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @classmethod
    def from_training_data(
        cls, config: SpeechAutoencoderConfig, features: np.ndarray
    ) -> SpeechAutoencoder:
        """A fresh autoencoder for ``features`` ``(N, n_mels, n_frames)``, standardised by them.

        ``features`` must have the shape ``config.spec`` describes (``ValueError`` otherwise):
        features and spec that disagree come from different runs, and training on them would
        give a model that reads or speaks audio with the wrong settings.
        """
        config.spec.check_features(features)
        n_mels = config.n_mels
        model = cls(config)
        # Per-bin moments chunk by chunk: the stretched content of 12k clips at once would
        # add ~1 GB of temporaries to the training node's peak.
        total = torch.zeros(n_mels, dtype=torch.float64)
        squares = torch.zeros(n_mels, dtype=torch.float64)
        voices = torch.zeros(n_mels, dtype=torch.float64)
        for start in range(0, len(features), _STATISTICS_CHUNK):
            chunk = np.asarray(features[start : start + _STATISTICS_CHUNK], dtype=np.float32)
            raw = model.content(torch.from_numpy(chunk)).double()
            content = model.normalise(raw)
            voices += (raw - content).mean(dim=2).sum(dim=0)
            total += content.sum(dim=(0, 2))
            squares += content.pow(2).sum(dim=(0, 2))
        count = len(features) * config.content_frames
        mean = total / count
        variance = (squares - count * mean.pow(2)) / max(count - 1, 1)
        model.mean.copy_(mean.float()[:, None])
        model.voice.copy_((voices / len(features)).float()[:, None])
        model.std.copy_(variance.clamp_min(0).sqrt().float().clamp_min(1e-3)[:, None])
        return model

    @staticmethod
    def inputs_from(features: np.ndarray) -> torch.Tensor:
        """``(N, n_mels, T)`` log-mel array -> float32 tensor (everything else happens inside)."""
        return torch.from_numpy(np.asarray(features, dtype=np.float32))

    def voiced_frames(self, log_mel: torch.Tensor) -> torch.Tensor:
        """``(N,)`` int64: frames up to and including the last voiced one (at least 2)."""
        loud = log_mel.amax(dim=1) > self.silence + self.config.voiced_threshold
        frames = torch.arange(log_mel.shape[2], device=log_mel.device)
        return (torch.where(loud, frames, -1).amax(dim=1) + 1).clamp_min(2)

    def content(self, log_mel: torch.Tensor) -> torch.Tensor:
        """The voiced part of ``(N, n_mels, T)`` log-mel stretched to ``(N, n_mels, K)``."""
        return stretch_time(log_mel, self.voiced_frames(log_mel), self.config.content_frames)

    def normalise(self, content: torch.Tensor) -> torch.Tensor:
        """``content`` less each clip's per-bin mean (``utterance_norm``), else unchanged."""
        if not self.config.utterance_norm:
            return content
        return content - content.mean(dim=2, keepdim=True)

    def standardised(self, content: torch.Tensor) -> torch.Tensor:
        """What the encoder reads and the decoder gives back: normalised, standardised content."""
        return (self.normalise(content) - self.mean) / self.std

    def speaker_codes(self, standardised: torch.Tensor) -> torch.Tensor:
        """``(N, speaker_dim)`` speaker codes of standardised content; while training, their
        running mean becomes ``mean_speaker``. Width 0 without a speaker encoder."""
        if self.speaker is None:
            return standardised.new_zeros(len(standardised), 0)
        codes = self.speaker(standardised)
        if self.training:
            with torch.no_grad():
                batch_mean = codes.float().mean(dim=0, keepdim=True)
                self.mean_speaker.lerp_(batch_mean, 1 - _SPEAKER_MOMENTUM)
        return codes

    def _decode_content(self, code: torch.Tensor) -> torch.Tensor:
        """Standardised content of content codes ``(N, latent_dim - 1)``, spoken with the
        average speaker code."""
        return self.decoder(code, self.mean_speaker.expand(len(code), -1))

    def encode(self, log_mel: torch.Tensor) -> torch.Tensor:
        """``(N, n_mels, T)`` log-mel -> embeddings ``(N, latent_dim)``; the last is log(L / T)."""
        lengths = self.voiced_frames(log_mel)
        content = stretch_time(log_mel, lengths, self.config.content_frames)
        code = self.encoder(self.standardised(content))
        duration = torch.log(lengths.to(code.dtype) / self.config.n_frames)
        return torch.cat([code, duration[:, None]], dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(N, latent_dim)`` -> log-mel ``(N, n_mels, T)`` in the input's units."""
        content = self._decode_content(z[:, :-1]) * self.std + self.mean + self.voice
        lengths = (self.config.n_frames * z[:, -1].exp()).round().clamp(2, self.config.n_frames)
        return unstretch_time(content, lengths.long(), self.config.n_frames, self.silence)

    def reconstruct(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Decoded embedding of ``log_mel``, ``(N, n_mels, T)``."""
        return self.decode(self.encode(log_mel))

    def loss(self, log_mel: torch.Tensor) -> dict[str, torch.Tensor]:
        raw = self.content(log_mel)
        target = self.standardised(raw)
        augmentation = self.config.augmentation
        if self.training and augmentation is not None:
            spec = self.config.spec
            perturbed = augmentation(raw, sample_rate=spec.sample_rate, hop_length=spec.hop_length)
            code = self.encoder(self.standardised(perturbed))
        else:
            code = self.encoder(target)
        terms = {}
        if self.training and self.config.invariance > 0:
            clean = self.encoder(target)
            spread = clean.detach().var(dim=0).mean().clamp_min(1e-6)
            terms["invariance"] = (code - clean).pow(2).mean() / spread
        if self.training and self.config.noise_std > 0:
            code = code + self.config.noise_std * torch.randn_like(code)
        speaker = self.speaker_codes(target)
        terms["reconstruction"] = F.mse_loss(self.decoder(code, speaker), target)
        terms["loss"] = terms["reconstruction"] + self.config.invariance * terms.get(
            "invariance", 0.0
        )
        return terms

    def decoder_loss(self, z: torch.Tensor, log_mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """How far the decoding of embeddings ``z`` is from the clips ``log_mel``, in the units
        of :meth:`loss` (standardised content); the decoder adaptation trains on it."""
        target = self.standardised(self.content(log_mel))
        return {"loss": F.mse_loss(self._decode_content(z[:, :-1]), target)}

    @staticmethod
    def reconstruction_metrics(
        log_mel: torch.Tensor, log_mel_hat: torch.Tensor
    ) -> dict[str, float]:
        """Mean squared error between log-mel spectrograms, in log-mel units."""
        return {"log_mel_mse": float((log_mel - log_mel_hat).pow(2).mean())}

    def to_waveform(self, log_mel: torch.Tensor, n_iter: int = 32) -> torch.Tensor:
        """Audio for ``(n_mels, T)`` or ``(N, n_mels, T)`` log-mel, with this model's spec."""
        return self.config.spec.to_waveform(log_mel, n_iter)


def stretch_time(x: torch.Tensor, lengths: torch.Tensor, size: int) -> torch.Tensor:
    """The first ``lengths[i]`` frames of each ``x[i]`` (``(N, C, T)``) resampled to ``size``."""
    steps = torch.linspace(0, 1, size, device=x.device, dtype=torch.float64)
    return interpolate_last_axis(x, steps[None] * (lengths[:, None] - 1))


def unstretch_time(
    c: torch.Tensor, lengths: torch.Tensor, n_frames: int, fill: float
) -> torch.Tensor:
    """``c (N, C, K)`` resampled to ``lengths[i]`` frames, then ``fill`` up to ``n_frames``."""
    frames = torch.arange(n_frames, device=c.device, dtype=torch.float64)[None]
    positions = (frames / (lengths[:, None] - 1) * (c.shape[2] - 1)).clamp(max=c.shape[2] - 1)
    out = interpolate_last_axis(c, positions)
    return out.masked_fill((frames >= lengths[:, None])[:, None, :], fill)
