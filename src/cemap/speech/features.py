"""Clips to fixed-size log-mel spectrograms (16 kHz, 64 mels).

Every clip is resampled to 16 kHz, zero-padded (digital silence) or cropped at the end to
``(n_frames - 1) * hop_length`` samples, and turned into the natural log of a power mel
spectrogram plus :data:`LOG_MEL_FLOOR`; frames past a clip's end therefore hold exactly
:data:`SILENCE_LOG_MEL` (about -13.8). The defaults fit our sentences with room to spare:
the longest template spoken at the slowest default rate (150 wpm) by the slowest default
eSpeak NG voice ("magenta six on the left and magenta seven on the right") lasts 3.39 s
after trimming, and ``DEFAULT_N_FRAMES`` frames cover 3.98 s, leaving 17 % for slower
speakers such as gTTS.

torch and torchaudio are imported inside the functions: the TTS worker processes import
this package and would otherwise spend seconds loading torch they never use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Hz; every clip is resampled to this rate before the spectrogram.
TARGET_SAMPLE_RATE = 16000
DEFAULT_N_MELS = 64
#: 64 ms analysis window at 16 kHz: windows overlap by 61 %, enough for Griffin-Lim to
#: turn a generated spectrogram back into audio, and fine 15.6 Hz bins under the low mels.
DEFAULT_N_FFT = 1024
#: 25 ms between frames at 16 kHz.
DEFAULT_HOP_LENGTH = 400
#: 160 frames x 25 ms: 3.98 s of audio; 160 = 5 x 32 suits strided convolutions.
DEFAULT_N_FRAMES = 160
#: Added to the mel power before the log, so silence is finite.
LOG_MEL_FLOOR = 1e-6
#: The value of a frame of digital silence.
SILENCE_LOG_MEL = math.log(LOG_MEL_FLOOR)
#: Clips per batch; bounds memory at a few tens of MB.
_BATCH = 64


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


def feature_samples(n_frames: int, hop_length: int) -> int:
    """Samples at the target rate that give exactly ``n_frames`` centred STFT frames."""
    return (n_frames - 1) * hop_length


def count_cropped(
    waveforms: Sequence[np.ndarray],
    sample_rate: int,
    *,
    target_rate: int = TARGET_SAMPLE_RATE,
    n_frames: int = DEFAULT_N_FRAMES,
    hop_length: int = DEFAULT_HOP_LENGTH,
) -> int:
    """How many clips :func:`log_mel_features` would crop (lose audio from) with these
    settings."""
    limit = feature_samples(n_frames, hop_length)
    return sum(resampled_length(len(w), sample_rate, target_rate) > limit for w in waveforms)


def log_mel_features(
    waveforms: Sequence[np.ndarray],
    sample_rate: int,
    *,
    target_rate: int = TARGET_SAMPLE_RATE,
    n_mels: int = DEFAULT_N_MELS,
    n_frames: int = DEFAULT_N_FRAMES,
    n_fft: int = DEFAULT_N_FFT,
    hop_length: int = DEFAULT_HOP_LENGTH,
) -> np.ndarray:
    """Log-mel spectrograms, ``(N, n_mels, n_frames)`` float32, natural log of power + 1e-6.

    ``waveforms``: float32 mono clips in [-1, 1] at ``sample_rate``. Clips longer than
    ``n_frames`` frames lose their end; :func:`count_cropped` says how many.
    """
    import torch
    import torchaudio

    length = feature_samples(n_frames, hop_length)
    resample = torchaudio.transforms.Resample(sample_rate, target_rate)
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=target_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=2.0
    )
    features = np.empty((len(waveforms), n_mels, n_frames), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(waveforms), _BATCH):
            clips = [np.asarray(w, dtype=np.float32) for w in waveforms[start : start + _BATCH]]
            # One resampling call per batch: clips are zero-padded to the longest, and
            # each row is cut back to its own resampled length, which is exactly what
            # resampling the clip alone gives (the filter pads with zeros too).
            native = torch.zeros(len(clips), max(1, max(len(c) for c in clips)))
            for row, clip in enumerate(clips):
                native[row, : len(clip)] = torch.from_numpy(clip)
            resampled = resample(native) if sample_rate != target_rate else native
            batch = torch.zeros(len(clips), length)
            for row, clip in enumerate(clips):
                keep = min(length, resampled_length(len(clip), sample_rate, target_rate))
                batch[row, :keep] = resampled[row, :keep]
            features[start : start + len(clips)] = torch.log(mel(batch) + LOG_MEL_FLOOR).numpy()
    return features
