"""Clips to fixed-size log-mel spectrograms (16 kHz, 64 mels), and back to audio.

One :class:`LogMelSpec` says how: the data_generation pipeline computes the features with it
and writes it beside them (``speech_spec``), the speech autoencoder keeps it in its checkpoint,
and everything that computes log-mels from audio or turns them back into audio (Griffin-Lim)
reads it from there, so the settings can never disagree. Every clip is resampled to 16 kHz, zero-padded (digital silence) or cropped at the end to
``(n_frames - 1) * hop_length`` samples, and turned into the natural log of a power mel
spectrogram plus ``log_offset``; frames past a clip's end therefore hold exactly
``LogMelSpec.silence`` (about -13.8). The defaults fit our sentences with room to spare:
the longest template spoken at the slowest default rate (150 wpm) by the slowest default
eSpeak NG voice ("magenta six on the left and magenta seven on the right") lasts 3.39 s
after trimming, and the default 160 frames cover 3.98 s, leaving 17 % for slower
speakers such as gTTS.

torch and torchaudio are imported inside the functions: the TTS worker processes import
this package and would otherwise spend seconds loading torch they never use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

#: Clips per batch; bounds memory at a few tens of MB.
_BATCH = 64


@dataclass(frozen=True)
class LogMelSpec:
    """How speech features are computed: ``log(mel power + log_offset)``, ``(n_mels, n_frames)``.

    ``sample_rate``: Hz every clip is resampled to; ``n_fft``: the analysis window (1,024 =
    64 ms at 16 kHz: windows overlap by 61 %, enough for Griffin-Lim to turn a generated
    spectrogram back into audio, and fine 15.6 Hz bins under the low mels); ``hop_length``:
    samples between frames (25 ms); ``n_frames``: 160 x 25 ms = 3.98 s of audio (160 = 5 x 32
    suits strided convolutions); ``log_offset``: added to the mel power so silence is finite.
    Checked as a whole on construction: a bad combination raises ``ValueError`` naming it.
    """

    sample_rate: int = 16000
    n_mels: int = 64
    n_frames: int = 160
    n_fft: int = 1024
    hop_length: int = 400
    log_offset: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_mels", "n_frames", "n_fft", "hop_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"speech.{name}={value!r} must be a positive integer.")
        bins = self.n_fft // 2 + 1
        # Each mel filter needs at least one frequency bin; with fewer bins than filters some
        # filters are empty and every feature row they feed is a constant.
        if bins < 2 * self.n_mels:
            raise ValueError(
                f"speech.n_fft={self.n_fft} gives {bins} frequency bins, too few for "
                f"n_mels={self.n_mels} mel filters (need n_fft >= {4 * self.n_mels - 2}); "
                f"raise n_fft (default 1024) or lower n_mels (default 64)."
            )
        if self.hop_length > self.n_fft:
            raise ValueError(
                f"speech.hop_length={self.hop_length} is longer than n_fft={self.n_fft}, so "
                "samples between windows would be skipped; use hop_length <= n_fft "
                "(default 400 with n_fft 1024)."
            )
        if self.n_frames < 2:
            raise ValueError(f"speech.n_frames={self.n_frames} must be at least 2 (default 160).")
        if not (isinstance(self.log_offset, int | float) and 0 < self.log_offset < 1):
            raise ValueError(
                f"speech.log_offset={self.log_offset!r} must lie in (0, 1) (default 1e-6)."
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> LogMelSpec:
        """The spec written by :meth:`to_dict` (e.g. the ``speech_spec`` JSON dataset)."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(
                f"The log-mel spec has unknown keys {unknown}; expected "
                f"{[f.name for f in fields(cls)]}. Re-run `kedro run --pipelines=data_generation`."
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def silence(self) -> float:
        """The value of a frame of digital silence, ``log(log_offset)``."""
        return math.log(self.log_offset)

    @property
    def num_samples(self) -> int:
        """Samples at ``sample_rate`` that give exactly ``n_frames`` centred STFT frames."""
        return (self.n_frames - 1) * self.hop_length

    def check_features(self, features: np.ndarray, name: str = "speech_features") -> None:
        """Raise ``ValueError`` unless ``features`` is ``(N, n_mels, n_frames)``."""
        shape = tuple(np.shape(features))
        if len(shape) != 3 or shape[1:] != (self.n_mels, self.n_frames):
            raise ValueError(
                f"{name} has shape {shape}, but the log-mel spec says (N, {self.n_mels}, "
                f"{self.n_frames}) (n_mels={self.n_mels}, n_frames={self.n_frames}). The "
                "features and the spec come from different runs: re-run "
                "`kedro run --pipelines=data_generation` so both are written together."
            )

    def count_cropped(self, waveforms: Sequence[np.ndarray], sample_rate: int) -> int:
        """How many clips :meth:`compute` would crop (lose audio from)."""
        limit = self.num_samples
        return sum(
            resampled_length(len(w), sample_rate, self.sample_rate) > limit for w in waveforms
        )

    def compute(self, waveforms: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        """Log-mel spectrograms, ``(N, n_mels, n_frames)`` float32.

        ``waveforms``: float32 mono clips in [-1, 1] at ``sample_rate``. Clips longer than
        ``n_frames`` frames lose their end; :meth:`count_cropped` says how many.
        """
        import torch
        import torchaudio

        length = self.num_samples
        resample = torchaudio.transforms.Resample(sample_rate, self.sample_rate)
        mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=self.sample_rate,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
            power=2.0,
        )
        features = np.empty((len(waveforms), self.n_mels, self.n_frames), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(waveforms), _BATCH):
                clips = [np.asarray(w, dtype=np.float32) for w in waveforms[start : start + _BATCH]]
                # One resampling call per batch: clips are zero-padded to the longest, and
                # each row is cut back to its own resampled length, which is exactly what
                # resampling the clip alone gives (the filter pads with zeros too).
                native = torch.zeros(len(clips), max(1, max(len(c) for c in clips)))
                for row, clip in enumerate(clips):
                    native[row, : len(clip)] = torch.from_numpy(clip)
                resampled = resample(native) if sample_rate != self.sample_rate else native
                batch = torch.zeros(len(clips), length)
                for row, clip in enumerate(clips):
                    keep = min(length, resampled_length(len(clip), sample_rate, self.sample_rate))
                    batch[row, :keep] = resampled[row, :keep]
                log_mel = torch.log(mel(batch) + self.log_offset)
                features[start : start + len(clips)] = log_mel.numpy()
        return features

    def to_waveform(self, log_mel: Any, n_iter: int = 32) -> Any:
        """Griffin-Lim audio ``(..., samples)`` float32 tensor in [-1, 1] from log-mel
        ``(..., n_mels, T)`` (a tensor).

        Undoes ``log(mel power + log_offset)``, maps mel bins back to a linear-frequency power
        spectrogram (least squares, ``InverseMelScale``) and estimates the phase
        (``GriffinLim`` from a fixed start, so the same input always gives the same audio).
        """
        import torchaudio

        log_mel = log_mel.detach().float().cpu()
        mel_power = (log_mel.exp() - self.log_offset).clamp_min(0.0)
        inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=self.n_fft // 2 + 1, n_mels=log_mel.shape[-2], sample_rate=self.sample_rate
        )
        griffin_lim = torchaudio.transforms.GriffinLim(
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            power=2.0,
            n_iter=n_iter,
            rand_init=False,
        )
        waveform = griffin_lim(inverse_mel(mel_power))
        peak = waveform.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8)
        return (waveform / peak * 0.9).clamp(-1.0, 1.0)


def resample_to(waveform: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """``waveform`` (float32 ``(num_samples,)``) resampled from ``from_rate`` to
    ``to_rate`` Hz with ``torchaudio.functional.resample``; float32."""
    waveform = np.asarray(waveform, dtype=np.float32)
    if from_rate == to_rate:
        return waveform.copy()
    import torch
    import torchaudio.functional

    resampled = torchaudio.functional.resample(torch.from_numpy(waveform), from_rate, to_rate)
    return resampled.numpy()


def resampled_length(num_samples: int, from_rate: int, to_rate: int) -> int:
    """Length of a clip of ``num_samples`` after :func:`resample_to`."""
    return math.ceil(num_samples * to_rate / from_rate)


def interpolate_last_axis(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``x (N, C, T)`` read at fractional positions ``(N, S)`` along its last axis by linear
    interpolation: ``(N, C, S)``. Time stretching (frames) and frequency warping (mel bins,
    with the mel axis last) both resample this way."""
    low = positions.floor().long().clamp(0, x.shape[2] - 1)
    high = (low + 1).clamp(max=x.shape[2] - 1)
    weight = (positions - low)[:, None, :].to(x.dtype)
    index = low[:, None, :].expand(-1, x.shape[1], -1)
    x_low = x.gather(2, index)
    return x_low + weight * (x.gather(2, high[:, None, :].expand_as(index)) - x_low)
