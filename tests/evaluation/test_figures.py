"""Figures come back as matplotlib Figures with one axis per panel, and save as PNG."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from cemap.concepts import ATTRIBUTES
from cemap.evaluation.figures import (
    confusion_matrices,
    latent_projection,
    loss_curves,
    prompt_grid,
)
from cemap.evaluation.labels import attribute_class_names

COLORS = ["red", "green", "blue", "yellow", "magenta", "cyan"]


def test_prompt_grid_has_one_axis_per_sample(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 4, 28, 56, 3), dtype=np.uint8)
    fig = prompt_grid(["red one and blue two", "a", "b"], images)
    assert isinstance(fig, Figure) and len(fig.axes) == 12
    fig.savefig(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 0
    with pytest.raises(ValueError, match="prompt_grid needs"):
        prompt_grid(["only one"], images)


def test_confusion_matrices_have_four_panels_and_tolerate_unreadable_predictions():
    rng = np.random.default_rng(1)
    target = np.column_stack([rng.integers(0, n, 200) for n in (10, 6, 10, 6)])
    pred = target.copy()
    pred[:10, 0] = -1
    fig = confusion_matrices(pred, target, ATTRIBUTES, attribute_class_names(COLORS))
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert fig.axes[0].get_title() == "digit_left: 95.0%"
    assert len(confusion_matrices(pred, target).axes) == 4


def test_loss_curves_one_panel_per_model():
    history = [
        {"epoch": 1.0, "train/loss": 2.0, "val/loss": 2.1, "val/accuracy/strict": 0.2},
        {"epoch": 2.0, "train/loss": 1.0, "val/loss": 1.3, "val/accuracy/strict": 0.5},
    ]
    fig = loss_curves({"image_judge": history, "speech_judge": history[:1]})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert {line.get_label() for line in fig.axes[0].get_lines()} == {"train/loss", "val/loss"}


def test_latent_projection_panels_by_modality_then_attribute():
    rng = np.random.default_rng(2)
    z = {m: rng.normal(size=(50, 8)) for m in ("image", "text", "speech")}
    labels = {"digit_left": rng.integers(0, 10, 50), "color_left": rng.choice(COLORS, 50)}
    fig = latent_projection(z, labels)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert fig.axes[0].get_title() == "by modality"
    per_point = {"digit_left": rng.integers(0, 10, 150)}
    assert len(latent_projection(z, per_point).axes) == 2
    with pytest.raises(ValueError, match="expected 50"):
        latent_projection(z, {"digit_left": np.zeros(7)})
