"""Thin adapters from ``params:embeddings`` and datasets to the autoencoders in cemap.models.

``samples`` is a modality's raw data in ``metadata`` row order: the images ``(N, 28, 56, 3)
uint8``, the metadata table itself (its ``text`` column) for text, or the log-mel features
``(N, n_mels, T) float32``. Only ``split`` and ``text`` are read from ``metadata``; the digit and
colour labels never reach a model.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from cemap.concepts import ATTRIBUTES
from cemap.evaluation.probes import linear_probe_accuracy, subsample_rows
from cemap.models import (
    ImageVAE,
    SpeechAutoencoder,
    TextAutoencoder,
    load_autoencoder,
    save_autoencoder,
)
from cemap.models.figures import (
    plot_image_reconstructions,
    plot_sentence_reconstructions,
    plot_spectrogram_pairs,
)
from cemap.pipelines.embeddings.params import EmbeddingsParams
from cemap.speech.features import LogMelSpec
from cemap.torch_runtime import seed_everything, select_device
from cemap.training import fit, predict_in_batches

logger = logging.getLogger(__name__)

TrainOutput = tuple[dict[str, Any], pd.DataFrame]

_AUTOENCODERS: dict[str, type[nn.Module]] = {
    "image": ImageVAE,
    "text": TextAutoencoder,
    "speech": SpeechAutoencoder,
}


def train_image_autoencoder(
    images: np.ndarray, metadata: pd.DataFrame, params: EmbeddingsParams
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The image VAE trained on the train split; checkpoint and per-epoch history."""
    return _train_autoencoder("image", images, metadata, params, params.image.autoencoder_config())


def train_text_autoencoder(
    sentences: pd.DataFrame, metadata: pd.DataFrame, params: EmbeddingsParams
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The text autoencoder (vocabulary from train sentences); checkpoint and history."""
    return _train_autoencoder("text", sentences, metadata, params, params.text.autoencoder_config())


def train_speech_autoencoder(
    speech_features: np.ndarray,
    speech_spec: dict[str, Any],
    metadata: pd.DataFrame,
    params: EmbeddingsParams,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The speech autoencoder (standardised by the train split); checkpoint and history.

    ``speech_spec`` is how data_generation computed the features; the checkpoint keeps it, and
    features of another shape stop here, before any training.
    """
    spec = LogMelSpec.from_dict(speech_spec)
    spec.check_features(speech_features)
    config = params.speech.autoencoder_config(spec)
    return _train_autoencoder("speech", speech_features, metadata, params, config)


def embed_samples(
    autoencoder: dict[str, Any], samples: Any, params: EmbeddingsParams
) -> np.ndarray:
    """Embeddings of every sample, ``(N, D) float32`` in metadata row order."""
    model = load_autoencoder(autoencoder)
    embeddings = _apply(model, model.encode, model.inputs_from(_raw(samples, model)), params)
    return embeddings.numpy().astype(np.float32)


def trained_with_embeddings(train: Callable[..., TrainOutput]) -> Callable[..., Any]:
    """``train`` (samples, …, metadata, params) -> (checkpoint, history), followed by
    :func:`embed_samples` of every sample with the model it trained: (checkpoint, history,
    embeddings). The wrapper keeps ``train``'s name and signature (Kedro validates the typed
    parameters from it)."""

    @functools.wraps(train)
    def node_function(*args: Any) -> tuple[dict[str, Any], Any, np.ndarray]:
        checkpoint, history = train(*args)
        return checkpoint, history, embed_samples(checkpoint, args[0], args[-1])

    return node_function


def measure_reconstruction(
    autoencoder: dict[str, Any], samples: Any, metadata: pd.DataFrame, params: EmbeddingsParams
) -> dict[str, Any]:
    """Reconstruction quality on the test split, with the training summary, for reporting.

    image: pixel ``mse``, ``psnr``; text: ``token_accuracy``, ``exact_sentence_rate``;
    speech: ``log_mel_mse``.
    """
    model = load_autoencoder(autoencoder)
    x = model.inputs_from(_raw(samples, model, _rows(metadata, "test")))
    x_hat = _apply(model, model.reconstruct, x, params)
    metrics = {f"test/{k}": v for k, v in model.reconstruction_metrics(x, x_hat).items()}
    logger.info("%s autoencoder, test reconstruction: %s", model.modality, metrics)
    return {"modality": model.modality, "n_test": len(x), **metrics, **autoencoder["training"]}


def probe_embeddings(
    embeddings: np.ndarray, metadata: pd.DataFrame, params: EmbeddingsParams
) -> dict[str, float]:
    """Test accuracy of a linear probe per attribute (``probe/<attribute>``, ``probe/mean``).

    Evaluation only: the labels judge how much of each concept the embedding exposes; the
    probe is fitted on at most ``probe_max_train`` train rows (a seeded subsample).
    """
    train = subsample_rows(_rows(metadata, "train"), params.probe_max_train, params.seed)
    test = _rows(metadata, "test")
    scores = {
        f"probe/{a}": linear_probe_accuracy(
            embeddings[train],
            metadata[a].to_numpy()[train],
            embeddings[test],
            metadata[a].to_numpy()[test],
        )
        for a in ATTRIBUTES
    }
    scores["probe/mean"] = float(np.mean(list(scores.values())))
    logger.info("linear probes on test embeddings: %s", scores)
    return scores


def plot_reconstructions(
    autoencoder: dict[str, Any], samples: Any, metadata: pd.DataFrame, params: EmbeddingsParams
) -> Figure:
    """The first ``n_examples`` test samples beside their reconstructions."""
    model = load_autoencoder(autoencoder)
    rows = _rows(metadata, "test")[: params.n_examples]
    x = model.inputs_from(_raw(samples, model, rows))
    x_hat = _apply(model, model.reconstruct, x, params)
    titles = metadata["text"].to_numpy()[rows].tolist()
    if model.modality == "image":
        return plot_image_reconstructions(model.images_from(x), model.images_from(x_hat), titles)
    if model.modality == "text":
        return plot_sentence_reconstructions(model.sentences_from(x), model.sentences_from(x_hat))
    return plot_spectrogram_pairs(x.numpy(), x_hat.numpy(), titles)


def render_speech_examples(
    autoencoder: dict[str, Any],
    speech_features: np.ndarray,
    metadata: pd.DataFrame,
    params: EmbeddingsParams,
) -> dict[str, tuple[np.ndarray, int]]:
    """Griffin-Lim audio of the first ``n_examples`` test clips and of their reconstructions.

    Both go through Griffin-Lim, so listening compares the autoencoder, not the vocoder.
    """
    model = load_autoencoder(autoencoder)
    rows = _rows(metadata, "test")[: params.n_examples]
    x = model.inputs_from(speech_features[rows])
    x_hat = _apply(model, model.reconstruct, x, params)
    n_iter = params.speech.audio.griffin_lim_iterations
    rate = model.config.spec.sample_rate
    clips = {}
    for i, (row, original, reconstruction) in enumerate(zip(rows, x, x_hat, strict=True)):
        name = f"{i:02d}_{metadata['text'].iloc[row].replace(' ', '_')}"
        clips[f"{name}_input"] = (model.to_waveform(original, n_iter).numpy(), rate)
        clips[f"{name}_reconstruction"] = (model.to_waveform(reconstruction, n_iter).numpy(), rate)
    return clips


def _train_autoencoder(
    modality: str, samples: Any, metadata: pd.DataFrame, params: EmbeddingsParams, config: Any
) -> tuple[dict[str, Any], pd.DataFrame]:
    train_rows, val_rows = _rows(metadata, "train"), _rows(metadata, "val")
    autoencoder_class = _AUTOENCODERS[modality]
    seed_everything(params.seed)  # the initial weights depend on it
    model = autoencoder_class.from_training_data(
        config, _raw(samples, autoencoder_class, train_rows)
    )
    train = model.inputs_from(_raw(samples, model, train_rows))
    val = model.inputs_from(_raw(samples, model, val_rows))
    result = fit(model, (train,), (val,), params.train_config(modality))
    logger.info(
        "%s autoencoder: best epoch %d of %d, %.1f s, %.0f samples/s.",
        modality,
        result.best_epoch,
        len(result.history),
        result.seconds,
        result.samples_per_second,
    )
    checkpoint = save_autoencoder(result.model.cpu())
    checkpoint["training"] = {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "train_seconds": result.seconds,
        "samples_per_second": result.samples_per_second,
    }
    return checkpoint, pd.DataFrame(result.history)


def _rows(metadata: pd.DataFrame, split: str) -> np.ndarray:
    rows = np.flatnonzero(metadata["split"].to_numpy() == split)
    if len(rows) == 0:
        raise ValueError(
            f"metadata has no '{split}' rows (splits present: {sorted(metadata['split'].unique())}); "
            "re-run `kedro run --pipelines=data_generation` with a non-zero size for it."
        )
    return rows


def _raw(samples: Any, model: nn.Module | type[nn.Module], rows: np.ndarray | None = None) -> Any:
    """The rows of ``samples`` a model's ``inputs_from`` takes: a sentence list for text."""
    if model.modality == "text":
        sentences = samples["text"].to_numpy()
        return (sentences if rows is None else sentences[rows]).tolist()
    return samples if rows is None else samples[rows]


def _apply(model: nn.Module, fn, x: torch.Tensor, params: EmbeddingsParams) -> torch.Tensor:
    device = select_device(params.device)
    model.to(device).eval()
    return predict_in_batches(fn, (x,), params.inference_batch_size, device)
