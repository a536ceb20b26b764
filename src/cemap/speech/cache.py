"""Content-addressed on-disk cache of rendered clips.

One clip per file, ``<cache_dir>/<backend>/<key>.wav``, where ``key`` is the SHA-256 of
everything that determines the waveform (see :func:`clip_key`). A file is a canonical
44-byte-header, 16-bit PCM, mono WAV, so any clip can be played as it is. One flat
directory per backend: ext4 and friends index large directories, and a cold run then
costs one mkdir instead of one per shard.

Damage is always detectable: the RIFF and ``data`` chunk sizes in the header must match
the file's size exactly, so a truncated or padded file, a mangled header, or a clip at
another sample rate is reported as a miss and rendered again. Writes go to a temporary
file in the same directory and are renamed into place (``os.replace``), so a crash or an
exception mid-write never leaves a partial file under a final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np

#: Bump when anything that shapes a cached clip changes (trimming, decoding, file format);
#: old entries are then simply never looked up again.
CACHE_FORMAT_VERSION = 1

_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_HEADER_SIZE = _HEADER.size  # 44


def clip_key(
    backend: str,
    text: str,
    voice: str,
    rate: int,
    pitch: int,
    sample_rate: int,
    engine: str = "",
) -> str:
    """SHA-256 hex digest naming one clip: backend, text, voice, rate, pitch, sample rate,
    engine version and :data:`CACHE_FORMAT_VERSION`."""
    fields = {
        "format": CACHE_FORMAT_VERSION,
        "backend": backend,
        "engine": engine,
        "text": text,
        "voice": voice,
        "rate": int(rate),
        "pitch": int(pitch),
        "sample_rate": int(sample_rate),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()


def wav_header(num_samples: int, sample_rate: int) -> bytes:
    """The 44-byte header of a 16-bit PCM mono WAV holding ``num_samples`` samples."""
    payload = 2 * num_samples
    return _HEADER.pack(
        b"RIFF",
        36 + payload,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        1,  # mono
        sample_rate,
        sample_rate * 2,
        2,
        16,
        b"data",
        payload,
    )


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """Canonical PCM WAV bytes for int16 mono ``samples`` of shape ``(num_samples,)``."""
    return wav_header(len(samples), sample_rate) + np.asarray(samples, dtype="<i2").tobytes()


def decode_wav(data: bytes, sample_rate: int) -> np.ndarray | None:
    """int16 samples from bytes written by :func:`encode_wav`; None if damaged or foreign."""
    if len(data) < _HEADER_SIZE:
        return None
    fields = _HEADER.unpack_from(data)
    expected = (b"RIFF", len(data) - 8, b"WAVE", b"fmt ", 16, 1, 1, sample_rate)
    expected += (sample_rate * 2, 2, 16, b"data", len(data) - _HEADER_SIZE)
    if fields != expected or (len(data) - _HEADER_SIZE) % 2:
        return None
    return np.frombuffer(data, dtype="<i2", offset=_HEADER_SIZE)


class ClipCache:
    """Clips of one backend at one sample rate under ``cache_dir``."""

    def __init__(self, cache_dir: str | Path, backend: str, sample_rate: int) -> None:
        self.root = Path(cache_dir) / backend
        self.sample_rate = sample_rate

    def path(self, key: str) -> Path:
        return self.root / f"{key}.wav"

    def read(self, key: str) -> tuple[np.ndarray | None, bool]:
        """``(samples, damaged)``: the cached int16 clip, or None when absent or damaged."""
        try:
            data = self.path(key).read_bytes()
        except FileNotFoundError:
            return None, False
        samples = decode_wav(data, self.sample_rate)
        return samples, samples is None

    def write(self, key: str, samples: np.ndarray) -> None:
        """Store ``samples`` (int16 mono) atomically under ``key``."""
        path = self.path(key)
        temp = {"dir": path.parent, "prefix": f".{key[:16]}-", "suffix": ".part"}
        try:
            fd, tmp_name = tempfile.mkstemp(**temp)
        except FileNotFoundError:  # the first clip: one mkdir, not one per clip
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(**temp)
        try:
            samples = np.ascontiguousarray(samples, dtype="<i2")
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(wav_header(len(samples), self.sample_rate))
                tmp.write(samples.data)  # no copy of the payload
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
