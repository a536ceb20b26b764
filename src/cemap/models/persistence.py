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

from cemap.models.image_vae import ImageVAE, ImageVAEConfig
from cemap.models.speech_autoencoder import SpeechAutoencoder, SpeechAutoencoderConfig
from cemap.models.text_autoencoder import TextAutoencoder, TextAutoencoderConfig

CHECKPOINT_FORMAT = 1
# kind -> (model class, config class)
AUTOENCODERS: dict[str, tuple[type[nn.Module], type]] = {
    ImageVAE.kind: (ImageVAE, ImageVAEConfig),
    TextAutoencoder.kind: (TextAutoencoder, TextAutoencoderConfig),
    SpeechAutoencoder.kind: (SpeechAutoencoder, SpeechAutoencoderConfig),
}
MODALITIES = ("image", "text", "speech")


def save_autoencoder(model: nn.Module) -> dict[str, Any]:
    """The checkpoint dict of a modality autoencoder (tensors copied to the CPU)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "kind": model.kind,
        "modality": model.modality,
        "config": asdict(model.config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }


def load_autoencoder(checkpoint: dict[str, Any]) -> nn.Module:
    """The autoencoder saved in ``checkpoint``, on the CPU, in eval mode."""
    kind = checkpoint.get("kind")
    if kind not in AUTOENCODERS:
        raise ValueError(
            f"Checkpoint kind {kind!r} is not a modality autoencoder; expected one of "
            f"{sorted(AUTOENCODERS)}. Was it written by save_autoencoder?"
        )
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"Checkpoint format {checkpoint.get('format')!r} is not {CHECKPOINT_FORMAT}; "
            "re-run `kedro run --pipelines=embeddings` to rebuild it."
        )
    model_class, config_class = AUTOENCODERS[kind]
    model = model_class(config_class(**checkpoint["config"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


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
