"""Figures that show what an autoencoder keeps: inputs beside their reconstructions."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

# Plain Figure objects, not pyplot: nothing global to close, no window backend needed.


def plot_image_reconstructions(
    images: np.ndarray, reconstructions: np.ndarray, titles: Sequence[str] = ()
) -> Figure:
    """Originals (top row) over reconstructions (bottom row); both ``(N, H, W, 3) uint8``.

    Column titles (the sentences) wrap onto short lines so neighbours never overlap.
    """
    n = len(images)
    fig = Figure(figsize=(1.9 * n, 2.6), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        for row, (picture, label) in enumerate(((images, "input"), (reconstructions, "output"))):
            ax = axes[row, i]
            ax.imshow(picture[i], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(label)
        if i < len(titles):
            axes[0, i].set_title(textwrap.fill(titles[i], 18), fontsize=6.5)
    fig.suptitle("Image VAE: test images and their reconstructions")
    return fig


def plot_spectrogram_pairs(
    log_mels: np.ndarray, reconstructions: np.ndarray, titles: Sequence[str] = ()
) -> Figure:
    """One row per clip: input log-mel beside its reconstruction, ``(N, n_mels, T)`` each."""
    n = len(log_mels)
    low, high = np.percentile(log_mels, [1, 99.5])
    fig = Figure(figsize=(8, 1.6 * n), layout="constrained")
    axes = fig.subplots(n, 2, squeeze=False, sharex=True, sharey=True)
    for i in range(n):
        for col, (spectrogram, label) in enumerate(
            ((log_mels, "input"), (reconstructions, "output"))
        ):
            ax = axes[i, col]
            ax.imshow(
                spectrogram[i], origin="lower", aspect="auto", vmin=low, vmax=high, cmap="magma"
            )
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"{label} log-mel")
        if i < len(titles):
            axes[i, 0].set_ylabel(titles[i], fontsize=6, rotation=0, ha="right", va="center")
    axes[-1, 0].set_xlabel("frame")
    axes[-1, 1].set_xlabel("frame")
    return fig


def plot_sentence_reconstructions(
    sentences: Sequence[str], reconstructions: Sequence[str]
) -> Figure:
    """Each test sentence above its reconstruction; mismatches marked in red."""
    n = len(sentences)
    fig = Figure(figsize=(8, 0.5 + 0.45 * n))
    ax = fig.subplots()
    ax.axis("off")
    for i, (sentence, reconstruction) in enumerate(zip(sentences, reconstructions, strict=True)):
        y = 1 - (i + 0.5) / n
        ax.text(0.0, y + 0.12 / n * 2, f"in:  {sentence}", family="monospace", fontsize=8)
        ax.text(
            0.0,
            y - 0.12 / n * 2,
            f"out: {reconstruction}",
            family="monospace",
            fontsize=8,
            color="black" if reconstruction == sentence else "red",
        )
    ax.set_title("Text autoencoder: test sentences and their reconstructions")
    return fig
