"""Joint-model checkpoints: a state dict plus the plain config dict, nothing else.

A checkpoint holds only tensors, strings, numbers, lists and dicts, so
``torch.load(path, weights_only=True)`` (and the catalog's ``TorchCheckpointDataset``) reads it
and no class has to be importable under a pickled name.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch

from cemap.joint.model import FIELDS_BEFORE_THEY_EXISTED, JointConfig, JointEmbeddingModel

FORMAT = "cemap.joint/1"

Checkpoint = dict[str, Any]


def joint_checkpoint(model: JointEmbeddingModel) -> Checkpoint:
    """``{"format", "config": dict, "state_dict": {name: CPU tensor}}`` for ``model``."""
    return {
        "format": FORMAT,
        "config": dataclasses.asdict(model.config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }


def load_joint_model(
    checkpoint: Checkpoint | str | os.PathLike[str], device: str | torch.device = "cpu"
) -> JointEmbeddingModel:
    """Rebuild a ``JointEmbeddingModel`` (in eval mode) from a checkpoint dict or file path."""
    if not isinstance(checkpoint, dict):
        checkpoint = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if checkpoint.get("format") != FORMAT:
        raise ValueError(
            f"Not a joint-model checkpoint: format={checkpoint.get('format')!r}, expected "
            f"{FORMAT!r}. Write one with cemap.joint.save_joint_model or the joint_latent pipeline."
        )
    config = {**FIELDS_BEFORE_THEY_EXISTED, **checkpoint["config"]}
    model = JointEmbeddingModel(JointConfig(**config))
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval()


def save_joint_model(model: JointEmbeddingModel, path: str | os.PathLike[str]) -> None:
    """Write ``joint_checkpoint(model)`` to ``path`` with ``torch.save``."""
    torch.save(joint_checkpoint(model), path)
