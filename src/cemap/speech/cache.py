"""Content-addressed on-disk cache of rendered clips.

One clip per file, ``<cache_dir>/<backend>/<key>.wav``, where ``key`` is the SHA-256 of
everything that determines the waveform (see :func:`clip_key`). A file is a canonical
44-byte-header, 16-bit PCM, mono WAV, so any clip can be played as it is. One flat
directory per backend: ext4 and friends index large directories, and a cold run then
costs one mkdir instead of one per shard.

Damage is always detectable: the RIFF and ``data`` chunk sizes in the header must match
the file's size exactly, so a truncated or padded file, a mangled header, or a clip at
another sample rate is reported as a miss and rendered again; and a ``sha2`` chunk after
the samples holds the SHA-256 of the sample bytes, checked on every read, so damaged samples
in a file of the right size (bit rot, a clip overwritten in place) are caught too. Players
skip the unknown chunk. Writes go to a temporary
file in the same directory and are renamed into place (``os.replace``), so a crash or an
exception mid-write never leaves a partial file under a final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

#: Bump when anything that shapes a cached clip changes (trimming, decoding, file format);
#: old entries are then simply never looked up again.
CACHE_FORMAT_VERSION = 2

_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_HEADER_SIZE = _HEADER.size  # 44
#: The checksum chunk a cached clip ends with: id, size, SHA-256 of the sample bytes.
_CHECKSUM_ID = b"sha2"
_CHECKSUM = struct.Struct("<4sI32s")


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
    engine version and :data:`CACHE_FORMAT_VERSION` (see :func:`clip_key_of`)."""
    fields = {"engine": engine, "rate": int(rate), "pitch": int(pitch)}
    return clip_key_of(backend, text, voice, sample_rate, fields)


def clip_key_of(
    backend: str, text: str, voice: str, sample_rate: int, fields: Mapping[str, object]
) -> str:
    """SHA-256 hex digest naming one clip: backend, text, voice, sample rate,
    :data:`CACHE_FORMAT_VERSION`, and the backend's own ``fields`` (engine version, knobs:
    ``SpeechBackend.cache_fields``)."""
    named = {
        **fields,
        "format": CACHE_FORMAT_VERSION,
        "backend": backend,
        "text": text,
        "voice": voice,
        "sample_rate": int(sample_rate),
    }
    return hashlib.sha256(json.dumps(named, sort_keys=True).encode("utf-8")).hexdigest()


def wav_header(num_samples: int, sample_rate: int, trailer: int = 0) -> bytes:
    """The 44-byte header of a 16-bit PCM mono WAV holding ``num_samples`` samples, followed
    by ``trailer`` bytes of further chunks."""
    payload = 2 * num_samples
    return _HEADER.pack(
        b"RIFF",
        36 + payload + trailer,
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


def checksum_chunk(sample_bytes: bytes | memoryview) -> bytes:
    """The chunk that ends a cached clip: ``sha2``, its size, SHA-256 of the sample bytes."""
    digest = hashlib.sha256(sample_bytes).digest()
    return _CHECKSUM.pack(_CHECKSUM_ID, len(digest), digest)


def decode_wav(data: bytes, sample_rate: int, *, checksum: bool = False) -> np.ndarray | None:
    """int16 samples from bytes written by :func:`encode_wav` (``checksum=False``) or by
    :class:`ClipCache` (``checksum=True``: the file must end with a matching checksum
    chunk); None if damaged or foreign."""
    trailer = _CHECKSUM.size if checksum else 0
    if len(data) < _HEADER_SIZE + trailer:
        return None
    payload = len(data) - _HEADER_SIZE - trailer
    fields = _HEADER.unpack_from(data)
    expected = (b"RIFF", len(data) - 8, b"WAVE", b"fmt ", 16, 1, 1, sample_rate)
    expected += (sample_rate * 2, 2, 16, b"data", payload)
    if fields != expected or payload % 2:
        return None
    samples = memoryview(data)[_HEADER_SIZE : _HEADER_SIZE + payload]
    if checksum and data[_HEADER_SIZE + payload :] != checksum_chunk(samples):
        return None
    return np.frombuffer(data, dtype="<i2", offset=_HEADER_SIZE, count=payload // 2)


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
        samples = decode_wav(data, self.sample_rate, checksum=True)
        return samples, samples is None

    def write(self, key: str, samples: np.ndarray) -> None:
        """Store ``samples`` (int16 mono) and their checksum atomically under ``key``."""
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
                tmp.write(wav_header(len(samples), self.sample_rate, _CHECKSUM.size))
                tmp.write(samples.data)  # no copy of the payload
                tmp.write(checksum_chunk(samples.data))
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
