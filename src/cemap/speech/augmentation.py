"""Random perturbations of log-mel spectrograms that change who speaks, not what is said.

Training the speech autoencoder on perturbed clips (``SpeechAutoencoderConfig.augmentation``)
is how its embedding learns to ignore the speaker without labels. Everything acts on natural-log
power mels ``(N, n_mels, T)`` (:class:`cemap.speech.features.LogMelSpec`), each clip drawn
independently, in this order:

- ``gain_db``: a loudness change, uniform in ``[-gain_db, gain_db]`` dB (a constant in log power);
- ``reverb``: a room, as an exponential decay of each mel band's power over the following
  frames, its time constant uniform in ``reverb`` (seconds; 0 in both: none);
- ``snr_db``: stationary noise, its power per band ``snr_db`` (uniform in the range) below the
  clip's loudest frame, added in the power domain;
- ``warp``: vocal-tract length, the frequency axis scaled by a factor uniform in ``warp`` (VTLP:
  bin at f reads the clip at f / factor, in Hz, through the mel scale);
- SpecAugment masks: ``freq_masks`` bands of up to ``freq_mask_width`` mels and ``time_masks``
  spans of up to ``time_mask_width`` frames set to the clip's mean.

Each perturbation touches a clip with probability ``probability`` (drawn per clip and per
perturbation), so the encoder also keeps seeing clean clips, as it will at inference.
Every draw comes from ``generator`` (or torch's global one, which ``cemap.training.fit`` seeds),
so the same seed gives the same perturbations; shapes and dtype are kept.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from cemap.speech.features import interpolate_last_axis


@dataclass(frozen=True)
class LogMelAugmentation:
    warp: tuple[float, float] = (1.0, 1.0)
    gain_db: float = 0.0
    snr_db: tuple[float, float] | None = None
    reverb: tuple[float, float] = (0.0, 0.0)
    freq_masks: int = 0
    freq_mask_width: int = 8
    time_masks: int = 0
    time_mask_width: int = 8
    probability: float = 0.5

    def __post_init__(self) -> None:
        for name in ("warp", "reverb", "snr_db"):
            value = getattr(self, name)
            if value is None:
                continue
            low, high = (float(v) for v in value)
            object.__setattr__(self, name, (low, high))
            if low > high:
                raise ValueError(f"LogMelAugmentation.{name} is a range [low, high]; got {value}.")
        if not 0.5 <= self.warp[0] <= self.warp[1] <= 2.0:
            raise ValueError(
                f"LogMelAugmentation.warp={self.warp} scales frequencies; keep it within "
                f"[0.5, 2.0] (VTLP uses about [0.9, 1.1])."
            )
        if self.reverb[0] < 0 or self.gain_db < 0:
            raise ValueError(
                f"LogMelAugmentation needs reverb >= 0 and gain_db >= 0; got reverb="
                f"{self.reverb}, gain_db={self.gain_db}."
            )
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(
                f"LogMelAugmentation.probability={self.probability} is a probability; use a "
                f"value in [0, 1]."
            )
        for name in ("freq_masks", "freq_mask_width", "time_masks", "time_mask_width"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"LogMelAugmentation.{name} must be >= 0; got {getattr(self, name)}."
                )

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> LogMelAugmentation | None:
        return None if values is None else cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @property
    def is_identity(self) -> bool:
        return self == LogMelAugmentation()

    def __call__(
        self,
        log_mel: torch.Tensor,
        *,
        sample_rate: int,
        hop_length: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """A perturbed copy of ``log_mel`` ``(N, n_mels, T)`` (see the module docstring)."""
        x = log_mel
        n, n_mels, n_frames = x.shape

        def uniform(low: float, high: float) -> torch.Tensor:  # (N,): one draw per clip
            u = torch.rand((n,), generator=generator, device=x.device, dtype=x.dtype)
            return low + (high - low) * u

        def chosen() -> torch.Tensor:  # (N,) bool: the clips this perturbation touches
            u = torch.rand((n,), generator=generator, device=x.device)
            return u < self.probability

        if self.gain_db > 0:
            gain = uniform(-self.gain_db, self.gain_db) * (math.log(10) / 10)
            x = x + (gain * chosen())[:, None, None]
        if self.reverb[1] > 0:
            decay = uniform(*self.reverb) * sample_rate / hop_length
            x = _reverberate(x, torch.where(chosen(), decay, 0.0))
        if self.snr_db is not None:
            floor = x.amax(dim=2, keepdim=True).amax(dim=1, keepdim=True)
            noise = floor - uniform(*self.snr_db)[:, None, None] * (math.log(10) / 10)
            jitter = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            noisy = torch.logaddexp(x, noise + 0.5 * jitter)
            x = torch.where(chosen()[:, None, None], noisy, x)
        if self.warp != (1.0, 1.0):
            x = _warp_frequencies(x, torch.where(chosen(), uniform(*self.warp), 1.0), sample_rate)
        if self.freq_masks or self.time_masks:
            fill = x.mean(dim=(1, 2), keepdim=True)
            keep = torch.ones_like(x, dtype=torch.bool)
            for _ in range(self.freq_masks):
                keep &= ~_band(n, n_mels, self.freq_mask_width, generator, x.device)[:, :, None]
            for _ in range(self.time_masks):
                keep &= ~_band(n, n_frames, self.time_mask_width, generator, x.device)[:, None, :]
            keep |= ~chosen()[:, None, None]
            x = torch.where(keep, x, fill)
        return x


def _band(
    n: int, size: int, max_width: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """``(n, size)`` bool: for each row one run of ``0..max_width`` positions set."""
    width = torch.randint(0, max_width + 1, (n, 1), generator=generator, device=device)
    start = (torch.rand((n, 1), generator=generator, device=device) * (size - width + 1)).long()
    positions = torch.arange(size, device=device)[None]
    return (positions >= start) & (positions < start + width)


def _reverberate(log_mel: torch.Tensor, decay_frames: torch.Tensor) -> torch.Tensor:
    """Each band's power plus its exponentially decaying past (time constant in frames)."""
    n, n_mels, n_frames = log_mel.shape
    n_taps = 16
    lags = torch.arange(n_taps, device=log_mel.device, dtype=log_mel.dtype)
    # (N, taps) weights, lag 0 weighs 1; one grouped causal convolution of the power per band.
    weights = torch.exp(-lags[None] / decay_frames.clamp_min(1e-3)[:, None])
    kernels = weights.flip(1).repeat_interleave(n_mels, dim=0)[:, None, :]
    peak = log_mel.amax(dim=(1, 2), keepdim=True)
    power = torch.exp(log_mel - peak).reshape(1, n * n_mels, n_frames)
    power = F.conv1d(F.pad(power, (n_taps - 1, 0)), kernels, groups=n * n_mels)
    return power.reshape(n, n_mels, n_frames).clamp_min(1e-30).log() + peak


def _warp_frequencies(
    log_mel: torch.Tensor, factor: torch.Tensor, sample_rate: int
) -> torch.Tensor:
    """Each clip's mel axis read at ``f / factor`` (Hz) by linear interpolation between bins."""
    n_mels = log_mel.shape[1]

    def mel(f: torch.Tensor) -> torch.Tensor:  # the HTK mel scale torchaudio uses by default
        return 2595.0 * torch.log10(1.0 + f / 700.0)

    def hertz(m: torch.Tensor) -> torch.Tensor:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    top = mel(torch.tensor(sample_rate / 2, dtype=torch.float64))
    centres = torch.linspace(0, float(top), n_mels + 2, dtype=torch.float64)[1:-1]
    step = top / (n_mels + 1)
    source = hertz(centres)[None] / factor.double().cpu()[:, None]  # (N, n_mels) in Hz
    position = (mel(source) / step - 1).clamp(0, n_mels - 1).to(log_mel.device)
    return interpolate_last_axis(log_mel.transpose(1, 2), position).transpose(1, 2)
