"""Training a joint model on persisted embeddings: one function for every caller.

The joint_latent pipeline trains the default model with it, the objective comparison trains
every objective × seed with it, so both give the same model for the same settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from cemap.concepts import MODALITIES
from cemap.joint.model import JointConfig, JointEmbeddingModel
from cemap.torch_runtime import seed_everything
from cemap.training import TrainConfig, TrainResult, fit


def checked_embeddings(embeddings: Mapping[str, np.ndarray], n_rows: int) -> dict[str, np.ndarray]:
    """``{modality: (N, D_m) float32}`` in :data:`MODALITIES` order, each with one row per
    metadata row (``ValueError`` naming the array and the fix otherwise)."""
    checked = {}
    for modality in MODALITIES:
        array = embeddings[modality]
        if array.ndim != 2 or array.shape[0] != n_rows:
            raise ValueError(
                f"{modality}.embeddings has shape {array.shape}, expected ({n_rows}, D): "
                "one row per metadata row. Re-run `kedro run --pipelines=embeddings` so the "
                "embeddings match the current metadata."
            )
        checked[modality] = np.asarray(array, dtype=np.float32)
    return checked


def split_tensors(
    embeddings: Mapping[str, np.ndarray], split: np.ndarray, name: str
) -> tuple[torch.Tensor, ...]:
    """The rows of split ``name``, one tensor per modality, in ``embeddings`` order."""
    mask = split == name
    if not mask.any():
        raise ValueError(
            f"metadata has no rows with split == {name!r}; the joint model needs them."
        )
    return tuple(torch.from_numpy(e[mask]) for e in embeddings.values())


def train_joint_model(
    embeddings: Mapping[str, np.ndarray],
    split: np.ndarray,
    model_fields: Mapping[str, Any],
    train_config: TrainConfig,
) -> TrainResult:
    """Fit a joint model (``JointConfig`` fields ``model_fields``; the embedding widths come
    from the data) on the train rows of ``split``, early-stopping on the val rows."""
    embeddings = checked_embeddings(embeddings, len(split))
    config = JointConfig(
        embedding_dims={m: e.shape[1] for m, e in embeddings.items()}, **model_fields
    )
    # The initial weights depend on the seed alone, not on what ran earlier in the process.
    seed_everything(train_config.seed)
    model = JointEmbeddingModel(config)
    train = split_tensors(embeddings, split, "train")
    val = split_tensors(embeddings, split, "val")
    model.fit_normalizers(*train)
    return fit(model, train, val, train_config)


def latent_means(
    model: JointEmbeddingModel, embeddings: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Posterior means z_m ``(N, latent_dim)`` float32 of every row, per modality."""
    return {m: model.latent_means(e, m).numpy().astype(np.float32) for m, e in embeddings.items()}
