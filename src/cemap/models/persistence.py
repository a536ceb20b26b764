"""Save and load the modality autoencoders as plain checkpoints: no pickled classes.

A checkpoint is a dict of Python values and tensors, loadable with
``torch.load(..., weights_only=True)`` and rebuilt by ``load_autoencoder`` without any training
code::

    {"format": 1, "kind": "image_vae", "modality": "image",
     "config": {...dataclass fields; the text vocabulary is one of them...},
     "state_dict": {name: tensor}}
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cemap.concepts import MODALITIES
from cemap.models.image_vae import ImageVAE, ImageVAEConfig
from cemap.models.speech_autoencoder import SpeechAutoencoder, SpeechAutoencoderConfig
from cemap.models.text_autoencoder import TextAutoencoder, TextAutoencoderConfig

CHECKPOINT_FORMAT = 2
# kind -> (model class, config class)
AUTOENCODERS: dict[str, tuple[type[nn.Module], type]] = {
    ImageVAE.kind: (ImageVAE, ImageVAEConfig),
    TextAutoencoder.kind: (TextAutoencoder, TextAutoencoderConfig),
    SpeechAutoencoder.kind: (SpeechAutoencoder, SpeechAutoencoderConfig),
}


def model_checkpoint(model: nn.Module, **fields: Any) -> dict[str, Any]:
    """``{"format", "kind", "config", "state_dict", **fields}`` for a model with a ``kind`` and a
    dataclass ``config`` (tensors copied to the CPU); the judges are saved this way too."""
    return {
        "format": CHECKPOINT_FORMAT,
        "kind": model.kind,
        **fields,
        "config": asdict(model.config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }


def rebuild_model(
    checkpoint: dict[str, Any],
    registry: dict[str, tuple[type[nn.Module], type]],
    what: str,
    saver: str,
    rerun: str,
) -> nn.Module:
    """The model a :func:`model_checkpoint` holds, on the CPU, in eval mode.

    ``registry`` maps each accepted ``kind`` to its (model class, config class); ``what``,
    ``saver`` and ``rerun`` phrase the errors ("a judge", "save_judge", what to re-run).
    """
    kind = checkpoint.get("kind")
    if kind not in registry:
        raise ValueError(
            f"Checkpoint kind {kind!r} is not {what}; expected one of {sorted(registry)}. "
            f"Was it written by {saver}?"
        )
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"Checkpoint format {checkpoint.get('format')!r} is not {CHECKPOINT_FORMAT}; {rerun}"
        )
    model_class, config_class = registry[kind]
    model = model_class(config_class(**checkpoint["config"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


def save_autoencoder(model: nn.Module) -> dict[str, Any]:
    """The checkpoint dict of a modality autoencoder (tensors copied to the CPU)."""
    return model_checkpoint(model, modality=model.modality)


def load_autoencoder(checkpoint: dict[str, Any]) -> nn.Module:
    """The autoencoder saved in ``checkpoint``, on the CPU, in eval mode."""
    return rebuild_model(
        checkpoint,
        AUTOENCODERS,
        "a modality autoencoder",
        "save_autoencoder",
        "re-run `kedro run --pipelines=embeddings` to rebuild it.",
    )


def autoencoder_path(
    modality: str, project_path: str | Path = ".", data_root: str = "data"
) -> Path:
    """Where the embeddings pipeline keeps the trained ``modality`` autoencoder."""
    if modality not in MODALITIES:
        raise ValueError(f"modality={modality!r} is not one of {MODALITIES}.")
    return Path(project_path) / data_root / "06_models" / f"{modality}_autoencoder.pt"


def load_trained_autoencoder(
    modality: str, project_path: str | Path = ".", data_root: str = "data"
) -> nn.Module:
    """The autoencoder the last ``kedro run --pipelines=embeddings`` trained, for notebooks."""
    path = autoencoder_path(modality, project_path, data_root)
    if not path.is_file():
        raise FileNotFoundError(
            f"No trained {modality} autoencoder at {path}; run `kedro run --pipelines=embeddings` "
            "from the project root first (or pass project_path=<project root>)."
        )
    return load_autoencoder(torch.load(path, map_location="cpu", weights_only=True))
