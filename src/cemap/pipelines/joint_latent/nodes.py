"""Thin adapters from ``params:joint_latent`` and the catalog's arrays to ``cemap.joint``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from cemap.concepts import ATTRIBUTES
from cemap.evaluation.alignment import alignment_report
from cemap.joint import joint_checkpoint, load_joint_model, training
from cemap.joint.adaptation import adapt_checkpoint
from cemap.joint.generation import ConditionalGenerator
from cemap.joint.training import checked_embeddings
from cemap.models import load_autoencoder
from cemap.pipelines.joint_latent.params import JointLatentParams

logger = logging.getLogger(__name__)


def _embeddings(
    metadata: pd.DataFrame, image: np.ndarray, text: np.ndarray, speech: np.ndarray
) -> dict[str, np.ndarray]:
    return checked_embeddings({"image": image, "text": text, "speech": speech}, len(metadata))


def train_joint_model(
    metadata: pd.DataFrame,
    image_embeddings: np.ndarray,
    text_embeddings: np.ndarray,
    speech_embeddings: np.ndarray,
    params: JointLatentParams,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Fit the joint model on the train split, early-stopping on val: (checkpoint, history)."""
    result = training.train_joint_model(
        {"image": image_embeddings, "text": text_embeddings, "speech": speech_embeddings},
        metadata["split"].to_numpy(),
        params.model.model_dump(),
        params.training.joint_train_config(),
    )
    logger.info(
        "joint model: best epoch %d of %d, %.0f samples/s",
        result.best_epoch,
        len(result.history),
        result.samples_per_second,
    )
    return joint_checkpoint(result.model), result.history


def adapt_speech_decoder(
    joint_model: dict[str, Any],
    speech_autoencoder: dict[str, Any],
    speech_features: np.ndarray,
    metadata: pd.DataFrame,
    image_embeddings: np.ndarray,
    text_embeddings: np.ndarray,
    speech_embeddings: np.ndarray,
    params: JointLatentParams,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """The speech autoencoder whose decoder reads the joint model's speech embeddings
    (``cemap.joint.adaptation``): what every →speech generation uses. (checkpoint, history)"""
    sources = params.decoder_adaptation.sources
    checkpoint, history = adapt_checkpoint(
        joint_model,
        speech_autoencoder,
        speech_features,
        metadata["split"].to_numpy(),
        _embeddings(metadata, image_embeddings, text_embeddings, speech_embeddings),
        sources,
        params.adaptation_train_config(),
    )
    if history:
        best = int(np.argmin([row["val/loss"] for row in history])) + 1
        logger.info(
            "speech decoder adapted to the joint model (from %s): best epoch %d of %d",
            ", ".join(sources),
            best,
            len(history),
        )
    return checkpoint, history


def encode_latent_means(
    joint_model: dict[str, Any],
    image_embeddings: np.ndarray,
    text_embeddings: np.ndarray,
    speech_embeddings: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior means z_m ``(N, latent_dim)`` float32 of every sample, per modality."""
    means = training.latent_means(
        load_joint_model(joint_model),
        {"image": image_embeddings, "text": text_embeddings, "speech": speech_embeddings},
    )
    return means["image"], means["text"], means["speech"]


def report_alignment(
    joint_model: dict[str, Any],
    metadata: pd.DataFrame,
    image_embeddings: np.ndarray,
    text_embeddings: np.ndarray,
    speech_embeddings: np.ndarray,
    params: JointLatentParams,
) -> dict[str, float]:
    """Linear-probe accuracies of the latents on test and the test distances D(q_m, q_n)."""
    embeddings = _embeddings(metadata, image_embeddings, text_embeddings, speech_embeddings)
    split = metadata["split"].to_numpy()
    report = alignment_report(
        load_joint_model(joint_model),
        embeddings,
        {a: metadata[a].to_numpy() for a in ATTRIBUTES},
        train_mask=split == "train",
        test_mask=split == "test",
        max_train=params.report.probe_max_train,
        seed=params.training.seed,
    )
    for m in embeddings:
        logger.info("linear probe on z_%s (test): %.3f", m, report[f"probe/{m}/mean"])
    logger.info("text→image probe on z_text (test): %.3f", report["probe/text_to_image/mean"])
    return report


# How the prompt grid marks a row from a held-out split.
_HELD_OUT_LABELS = {"heldout_pairs": "held out (pairs): ", "heldout_tuples": "held out (tuples): "}


def plot_prompt_grid(
    joint_model: dict[str, Any],
    image_autoencoder: dict[str, Any],
    metadata: pd.DataFrame,
    text_embeddings: np.ndarray,
    params: JointLatentParams,
) -> Figure:
    """Sentences (rows) → the image from the mean of q_text, then samples drawn from it.

    Rows: one test sentence per template (the phrasings the model has to handle), then a
    third of the rows from the held-out splits — ``heldout_pairs`` (a (digit, colour) pair never
    trained on) first, then ``heldout_tuples`` (a combination never trained on) — then more test.
    """
    n_prompts, n_samples = params.report.n_prompts, params.report.n_samples
    split = metadata["split"].to_numpy()
    test = np.flatnonzero(split == "test")
    pairs = np.flatnonzero(split == "heldout_pairs")
    tuples = np.flatnonzero(split == "heldout_tuples")
    _, first_of_template = np.unique(metadata["template_id"].to_numpy()[test], return_index=True)
    firsts = test[np.sort(first_of_template)]
    n_held = n_prompts // 3
    n_pairs = min(len(pairs), n_held - n_held // 2)
    n_tuples = min(len(tuples), n_held - n_pairs)
    n_firsts = min(len(firsts), n_prompts - n_pairs - n_tuples)
    rows = np.concatenate(
        [firsts[:n_firsts], pairs[:n_pairs], tuples[:n_tuples], np.setdiff1d(test, firsts)]
    )
    rows = rows[:n_prompts]

    autoencoder: nn.Module = load_autoencoder(image_autoencoder)
    generator = ConditionalGenerator(load_joint_model(joint_model), {"image": autoencoder})
    prompts = text_embeddings[rows]
    means = generator.generate("text", prompts, "image", embeddings=True)
    samples = generator.generate(
        "text", prompts, "image", n_samples=n_samples, use_mean=False, embeddings=True
    ).reshape(len(rows), n_samples, *means.shape[1:])

    figure = Figure(figsize=(1.6 * (n_samples + 1), 1.0 * len(rows) + 0.4), layout="constrained")
    axes = figure.subplots(len(rows), n_samples + 1, squeeze=False)
    columns = ["mean", *(f"sample {s + 1}" for s in range(n_samples))]
    for r, row in enumerate(rows):
        for c, image in enumerate([means[r], *samples[r]]):
            axes[r, c].imshow(image)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == len(rows) - 1:
                axes[r, c].set_xlabel(columns[c], fontsize=7)
        label = _HELD_OUT_LABELS.get(split[row], "")
        axes[r, 0].set_title(f"{label}“{metadata['text'].iloc[row]}”", fontsize=7, loc="left")
    figure.suptitle(
        "text → image: each sentence (row) → the image of the mean of q(z | text), then samples",
        fontsize=8,
    )
    return figure
