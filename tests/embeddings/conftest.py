"""Small synthetic stand-ins for the data_generation outputs: shapes and types only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

COLORS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
DIGITS = ("zero", "one", "two", "three")
TEMPLATES = ("{c1} {d1} and {c2} {d2}", "a {c1} {d1} next to a {c2} {d2}")
SIZES = {"train": 48, "val": 16, "test": 16, "heldout_tuples": 4, "heldout_pairs": 4}
SILENCE = float(np.log(np.float32(1e-6)))  # log(mel power + 1e-6) of digital silence


def make_synthetic_data(
    sizes: dict[str, int] = SIZES, n_frames: int = 16, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``metadata``, ``images (N, 28, 56, 3) uint8`` and ``speech_features (N, 64, T) float32``.

    Each side of an image is a bar whose height says the digit, tinted by its colour; the
    log-mel has a band per word and trailing silence, so the attributes are learnable without being MNIST or TTS.
    """
    rng = np.random.default_rng(seed)
    n = sum(sizes.values())
    colors = list(COLORS)
    frame = pd.DataFrame(
        {
            "sample_id": np.arange(n),
            "split": np.repeat(list(sizes), list(sizes.values())),
            "digit_left": rng.integers(0, len(DIGITS), n),
            "color_left": rng.choice(colors, n),
            "digit_right": rng.integers(0, len(DIGITS), n),
            "color_right": rng.choice(colors, n),
            "template_id": rng.integers(0, len(TEMPLATES), n),
        }
    )
    frame["text"] = [
        TEMPLATES[r.template_id].format(
            c1=r.color_left, d1=DIGITS[r.digit_left], c2=r.color_right, d2=DIGITS[r.digit_right]
        )
        for r in frame.itertuples()
    ]
    images = np.zeros((n, 28, 56, 3), dtype=np.uint8)
    speech = rng.normal(-6, 0.5, size=(n, 64, n_frames)).astype(np.float32)
    voiced = rng.integers(n_frames // 2, n_frames + 1, n)
    for i, r in enumerate(frame.itertuples()):
        for side, (digit, color) in enumerate(
            ((r.digit_left, r.color_left), (r.digit_right, r.color_right))
        ):
            height = 6 + 5 * digit
            images[i, 28 - height : 26, 28 * side + 10 : 28 * side + 18] = COLORS[color]
            half = voiced[i] // 2
            speech[i, 8 * digit : 8 * digit + 8, side * half : (side + 1) * half] += 4
        speech[i, :, voiced[i] :] = SILENCE  # digital silence after the clip, as TTS gives
    return frame, images, speech


@pytest.fixture(scope="session")
def synthetic_data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    return make_synthetic_data()


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread, and far faster when other jobs share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
