"""Two tinted MNIST digits side by side on a black canvas."""

from __future__ import annotations

import numpy as np

DEFAULT_PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
}


# Colours a palette may name without giving RGB.
NAMED_COLORS: dict[str, tuple[int, int, int]] = {
    **DEFAULT_PALETTE,
    "white": (255, 255, 255),
    "orange": (255, 165, 0),
    "purple": (128, 0, 128),
    "pink": (255, 105, 180),
    "brown": (165, 42, 42),
    "gray": (128, 128, 128),
}


def tint(digits: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Grayscale intensity × colour: ``(N, 28, 28) uint8`` and ``(N, 3)`` → ``(N, 28, 28, 3) uint8``.

    ``round(gray * c / 255)`` per channel, so a full-intensity stroke takes the exact colour.
    """
    scaled = digits.astype(np.uint32)[..., None] * rgb.astype(np.uint32)[:, None, None, :]
    return ((scaled + 127) // 255).astype(np.uint8)


def compose_double_digit_images(
    digits: np.ndarray,
    left_index: np.ndarray,
    right_index: np.ndarray,
    left_rgb: np.ndarray,
    right_rgb: np.ndarray,
) -> np.ndarray:
    """``(N, 28, 56, 3) uint8``: digit ``left_index[i]`` tinted ``left_rgb[i]`` beside the right one.

    ``digits`` is the ``(M, 28, 28) uint8`` source; indices are ``(N,)``; colours ``(N, 3)``.
    """
    left = tint(digits[left_index], left_rgb)
    right = tint(digits[right_index], right_rgb)
    return np.concatenate([left, right], axis=2)
