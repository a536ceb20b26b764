"""Evaluation figures as matplotlib ``Figure`` objects (no pyplot state, any backend can save them).

Figures are built with ``matplotlib.figure.Figure`` directly, so nothing registers with pyplot,
nothing needs closing, and saving renders through Agg (``fig.savefig(path)``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import is_color_like, to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cemap.concepts import ATTRIBUTES

_LOSS_STYLES = {"train": "-", "val": "--"}
#: Panels per row of the multi-panel figures: wide strips wrap into a grid that stays legible
#: at the width of a report or an MLflow preview.
PANELS_PER_ROW = 3


def panel_grid(n_panels: int, panel_size: tuple[float, float], columns: int = PANELS_PER_ROW):
    """A constrained-layout figure with ``n_panels`` axes in rows of ``columns``; the unused
    cells of the last row are hidden. Returns ``(figure, axes)`` (flat, ``n_panels`` long)."""
    columns = max(1, min(columns, n_panels))
    rows = math.ceil(n_panels / columns)
    fig = Figure(figsize=(panel_size[0] * columns, panel_size[1] * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes[:n_panels])


def prompt_grid(prompts: Sequence[str], images: np.ndarray, title: str | None = None) -> Figure:
    """One row per prompt, its ``S`` generated samples side by side.

    ``images`` is ``(P, S, H, W, 3) uint8``, ``P = len(prompts)``. Each row is titled with its
    prompt, each column with its sample number; ``title`` heads the figure.
    """
    images = np.asarray(images)
    if images.ndim != 5 or len(images) != len(prompts) or len(prompts) == 0:
        raise ValueError(
            f"prompt_grid needs images (P, S, H, W, 3) for P = {len(prompts)} prompts (P >= 1); "
            f"got shape {images.shape}."
        )
    n_prompts, n_samples, height, width, _ = images.shape
    cell = 1.2 * width / height
    fig = Figure(figsize=(max(cell * n_samples, 4.0), 1.55 * n_prompts + 0.5), layout="constrained")
    axes = fig.subplots(n_prompts, n_samples, squeeze=False)
    for row, (prompt, samples) in enumerate(zip(prompts, images, strict=True)):
        for col, (ax, image) in enumerate(zip(axes[row], samples, strict=True)):
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_title(f"“{prompt}”", loc="left", fontsize=8)
            if row == n_prompts - 1:
                ax.set_xlabel(f"sample {col + 1}", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def confusion_matrices(
    pred: np.ndarray,
    target: np.ndarray,
    attribute_names: Sequence[str] = ATTRIBUTES,
    class_names: Sequence[Sequence[str]] | None = None,
) -> Figure:
    """One row-normalised confusion matrix per attribute (true rows, judged columns).

    ``pred`` and ``target`` are ``(N, A)`` label indices; ``class_names[a]`` names attribute
    ``a``'s classes (default: their indices). Unreadable predictions (``-1``) get a last
    column ``"?"``.
    """
    pred, target = np.asarray(pred), np.asarray(target)
    n_attributes = len(attribute_names)
    if pred.shape != target.shape or pred.ndim != 2 or pred.shape[1] != n_attributes:
        raise ValueError(
            f"confusion_matrices needs pred and target (N, {n_attributes}) for attributes "
            f"{list(attribute_names)}; got {pred.shape} and {target.shape}."
        )
    if class_names is None:
        class_names = [
            [str(c) for c in range(int(max(pred[:, a].max(), target[:, a].max())) + 1)]
            for a in range(n_attributes)
        ]
    fig, axes = panel_grid(n_attributes, (4.2, 4.2), columns=2)
    for a, (ax, name, names) in enumerate(zip(axes, attribute_names, class_names, strict=True)):
        n = len(names)
        unknown = bool((pred[:, a] < 0).any())
        columns = pred[:, a].copy()
        columns[columns < 0] = n
        counts = np.zeros((n, n + unknown))
        np.add.at(counts, (target[:, a], columns), 1)
        rates = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
        ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(n + unknown), [*names, "?"][: n + unknown], rotation=90, fontsize=7)
        ax.set_yticks(range(n), names, fontsize=7)
        ax.set_xlabel("judged")
        ax.set_ylabel("true")
        accuracy = float((pred[:, a] == target[:, a]).mean())
        ax.set_title(f"{name}: {accuracy:.1%}", fontsize=9)
        for i, j in zip(*np.nonzero(rates >= 0.005), strict=True):
            ax.text(
                j,
                i,
                f"{rates[i, j]:.0%}",
                ha="center",
                va="center",
                fontsize=5,
                color="white" if rates[i, j] > 0.5 else "black",
            )
    return fig


def loss_curves(histories: Mapping[str, Sequence[Mapping[str, float]]]) -> Figure:
    """One panel per model: every ``train/…loss`` and ``val/…loss`` term against the epoch.

    ``histories`` maps a model name to its per-epoch rows (``TrainResult.history``).
    """
    if not histories:
        raise ValueError("loss_curves needs at least one history; got none.")
    fig, axes = panel_grid(len(histories), (4.5, 3.4))
    for ax, (name, history) in zip(axes, histories.items(), strict=True):
        keys = sorted({k for row in history for k in row if k.endswith("loss") and "/" in k})
        epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
        for key in keys:
            split = key.split("/", 1)[0]
            values = [row.get(key, np.nan) for row in history]
            ax.plot(epochs, values, _LOSS_STYLES.get(split, ":"), marker=".", label=key)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if keys:
            ax.legend(fontsize=7)
    fig.suptitle("Loss per epoch: train (solid) and validation (dashed)", fontsize=10)
    return fig


def latent_projection(
    z_by_modality: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray]
) -> Figure:
    """Latents of every modality projected on their first two principal components.

    ``z_by_modality`` maps a modality to ``(N_m, D)`` latents (one space, same ``D``); the PCA
    (numpy SVD) is fitted on all of them together. The first panel colours points by modality,
    then one panel per entry of ``labels`` colours them by that attribute; a label array is
    either ``(N,)`` for paired samples (every modality encodes the same ``N`` samples in the
    same order) or one value per point of all modalities concatenated in the mapping's order.
    """
    if not z_by_modality:
        raise ValueError("latent_projection needs latents of at least one modality; got none.")
    names = list(z_by_modality)
    blocks = [np.asarray(z_by_modality[m], dtype=np.float64) for m in names]
    widths = {b.shape[1] if b.ndim == 2 else None for b in blocks}
    if len(widths) != 1 or None in widths:
        raise ValueError(
            "latent_projection needs (N, D) latents with one D for every modality; got "
            f"{ {m: b.shape for m, b in zip(names, blocks, strict=True)} }."
        )
    z = np.concatenate(blocks)
    modality = np.concatenate([[m] * len(b) for m, b in zip(names, blocks, strict=True)])
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    if xy.shape[1] < 2:  # one-dimensional latents: plot against zero
        xy = np.column_stack([xy, np.zeros(len(xy))])

    panels = {"modality": modality}
    for attribute, values in labels.items():
        values = np.asarray(values)
        if len(values) == len(z):
            panels[attribute] = values
        elif len({len(b) for b in blocks}) == 1 and len(values) == len(blocks[0]):
            panels[attribute] = np.tile(values, len(blocks))
        else:
            raise ValueError(
                f"latent_projection: labels[{attribute!r}] has {len(values)} values; expected "
                f"{len(blocks[0])} (one per paired sample) or {len(z)} (one per point)."
            )
    fig, axes = panel_grid(len(panels), (4.2, 4.0))
    markers = dict(zip(names, "os^Dvx*+", strict=False))
    for ax, (title, values) in zip(axes, panels.items(), strict=True):
        classes = sorted(set(values.tolist()), key=lambda v: (str(type(v)), v))
        colors = _class_colors(classes)
        for c, value in enumerate(classes):
            label = str(value)  # once per class in the legend; markers tell the modalities apart
            for m in names:
                where = (values == value) & (modality == m)
                if where.any():
                    ax.scatter(
                        *xy[where].T,
                        s=4,
                        color=colors[c],
                        marker=markers.get(m, "o"),
                        alpha=0.6,
                        label=label,
                    )
                    label = None
        ax.set_title(f"by {title}", fontsize=10)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.legend(fontsize=6, markerscale=2, loc="best")
    return fig


def _class_colors(classes: list) -> np.ndarray:
    """One RGBA colour per class: the class's own colour when every class names one (colour
    attributes), else distinguishable ones (tab10, then tab20, then a hue wheel)."""
    if all(isinstance(c, str) and not _is_number(c) and is_color_like(c) for c in classes):
        return np.array([to_rgba(c) for c in classes])
    n = len(classes)
    if n <= 10:
        return colormaps["tab10"](np.arange(n))
    if n <= 20:
        return colormaps["tab20"](np.arange(n))
    return colormaps["hsv"](np.linspace(0, 1, n, endpoint=False))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
