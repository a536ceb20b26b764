"""A modality decoder fine-tuned on what the joint model gives it, for generation.

The joint model decodes a latent into the *conditional mean* of the target embedding: from a
sentence, the average over every voice that could have spoken it. A speech decoder trained only
on real clips' codes reads such averages badly (docs/design.md §8.5: the speech autoencoder
keeps 91 % of the attributes, its own path through the joint model 37 %). As a TTS vocoder is
fine-tuned on the acoustic model's predicted features, the decoder is trained further on the
joint model's translations of the training pairs — source embedding → latent mean → target
embedding — with the real sample of the same row as the target. Only the pairing is used (as
for the joint model), no labels; the encoder stays as it was, so the embeddings and the joint
model do not change. Early stopping on the val split.

The autoencoder provides ``decoder_loss(embeddings, samples) -> {"loss": ...}``: how far its
decoding of ``embeddings`` is from ``samples``, in its own training loss's units.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from cemap.joint.checkpoint import load_joint_model
from cemap.joint.model import JointEmbeddingModel
from cemap.training import TrainConfig, TrainResult, fit


class _DecoderOnTranslations(nn.Module):
    """``loss(generated embeddings, row)``: the autoencoder's ``decoder_loss`` against the real
    sample of that row; only the decoder has trainable parameters."""

    def __init__(self, autoencoder: nn.Module, samples: torch.Tensor) -> None:
        super().__init__()
        self.autoencoder = autoencoder
        self.samples = samples  # (N_rows, ...) on the CPU; a batch is moved when used

    def loss(self, generated: torch.Tensor, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = self.samples[rows.cpu()].to(generated.device)
        return self.autoencoder.decoder_loss(generated, batch)


def translations(
    joint_model: JointEmbeddingModel,
    embeddings: Mapping[str, np.ndarray],
    rows: np.ndarray,
    sources: Sequence[str],
    target: str,
    batch_size: int = 2048,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``target`` embeddings the joint model makes from each of ``sources`` (posterior
    means) for ``rows``, stacked: ``(len(sources) * len(rows), D_target)``, and the row each
    came from, as an int64 tensor."""
    outputs, origin = [], []
    joint_model.eval()
    with torch.no_grad():
        for source in sources:
            x = embeddings[source][rows]
            parts = [
                joint_model.translate(x[i : i + batch_size], source, target).float().cpu()
                for i in range(0, len(rows), batch_size)
            ]
            outputs.append(torch.cat(parts))
            origin.append(torch.from_numpy(np.asarray(rows, dtype=np.int64)))
    return torch.cat(outputs), torch.cat(origin)


def adapt_decoder(
    autoencoder: nn.Module,
    joint_model: JointEmbeddingModel,
    embeddings: Mapping[str, np.ndarray],
    samples: torch.Tensor,
    splits: np.ndarray,
    sources: Sequence[str],
    config: TrainConfig,
) -> TrainResult:
    """A copy of ``autoencoder`` whose decoder is fine-tuned on ``joint_model``'s translations
    from ``sources`` into its modality (train rows; val rows for early stopping).

    ``samples`` holds the autoencoder's inputs for every row (``autoencoder.inputs_from`` of the
    raw data), ``splits`` each row's split. The result's model is on the CPU, in eval mode.
    """
    target = autoencoder.modality
    unknown = sorted(set(sources) - set(joint_model.config.modalities))
    if unknown or not sources:
        raise ValueError(
            f"Decoder adaptation sources {list(sources)} must be a non-empty subset of the "
            f"joint model's modalities {list(joint_model.config.modalities)}."
        )
    adapted = copy.deepcopy(autoencoder).cpu()
    for name, parameter in adapted.named_parameters():
        parameter.requires_grad_(name.startswith("decoder."))
    train_rows = np.flatnonzero(splits == "train")
    val_rows = np.flatnonzero(splits == "val")
    train = translations(joint_model, embeddings, train_rows, sources, target)
    val = translations(joint_model, embeddings, val_rows, sources, target)
    result = fit(_DecoderOnTranslations(adapted, samples), train, val, config)
    for parameter in adapted.parameters():
        parameter.requires_grad_(True)
    result.model = adapted.cpu().eval()
    return result


def adapt_checkpoint(
    joint_checkpoint: dict[str, Any],
    autoencoder_checkpoint: dict[str, Any],
    raw_samples: np.ndarray,
    splits: np.ndarray,
    embeddings: Mapping[str, np.ndarray],
    sources: Sequence[str],
    config: TrainConfig,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """:func:`adapt_decoder` from checkpoint to checkpoint: (adapted checkpoint, history).
    No ``sources``: the autoencoder as it was, and no history."""
    from cemap.models import load_autoencoder, save_autoencoder

    if not sources:
        return autoencoder_checkpoint, []
    autoencoder = load_autoencoder(autoencoder_checkpoint)
    result = adapt_decoder(
        autoencoder,
        load_joint_model(joint_checkpoint),
        embeddings,
        autoencoder.inputs_from(raw_samples),
        splits,
        sources,
        config,
    )
    return save_autoencoder(result.model), result.history
