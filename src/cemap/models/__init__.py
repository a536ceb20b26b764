"""One unsupervised autoencoder per modality; their embeddings feed the joint latent model.

Every autoencoder has the same surface: ``from_training_data(config, raw_train)``,
``inputs_from(raw) -> Tensor``, ``loss(x)`` (for ``cemap.training.fit``), ``encode(x) -> (N, D)``,
``decode(z)``, ``reconstruct(x)`` and ``reconstruction_metrics(x, x_hat)``.
"""

from cemap.models.image_vae import ImageVAE, ImageVAEConfig
from cemap.models.persistence import (
    AUTOENCODERS,
    autoencoder_path,
    load_autoencoder,
    load_trained_autoencoder,
    save_autoencoder,
)
from cemap.models.speech_autoencoder import SpeechAutoencoder, SpeechAutoencoderConfig
from cemap.models.text_autoencoder import TextAutoencoder, TextAutoencoderConfig, Vocabulary

__all__ = [
    "AUTOENCODERS",
    "ImageVAE",
    "ImageVAEConfig",
    "SpeechAutoencoder",
    "SpeechAutoencoderConfig",
    "TextAutoencoder",
    "TextAutoencoderConfig",
    "Vocabulary",
    "autoencoder_path",
    "load_autoencoder",
    "load_trained_autoencoder",
    "save_autoencoder",
]
