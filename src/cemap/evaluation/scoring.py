"""Scoring a joint model: the one home of coherence, alignment and quality.

The evaluation pipeline scores the default model with these functions and the objective
comparison scores every objective × seed with the same ones, so their numbers can be compared.
Everything is plain arrays and loaded models; labels only judge here (see
:mod:`cemap.evaluation.labels`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cemap.concepts import ATTRIBUTES, EVALUATION_SPLITS, MODALITIES, RESPOKEN_SPLITS
from cemap.evaluation.alignment import mean_distances
from cemap.evaluation.figures import confusion_matrices, prompt_grid
from cemap.evaluation.judges import AttributeJudge
from cemap.evaluation.labels import attribute_class_names, encode_attributes, palette_of
from cemap.evaluation.metrics import (
    DIRECTIONS,
    coherence,
    diversity,
    frechet_distance,
    metric_name,
    prefixed,
    retrieval_recall,
)
from cemap.evaluation.text_judge import TextJudge
from cemap.joint.generation import ConditionalGenerator
from cemap.joint.model import JointEmbeddingModel
from cemap.torch_runtime import seed_everything

#: Directions whose outputs are images (judged by the image judge, kept for Fréchet distance).
IMAGE_DIRECTIONS = tuple(d for d in DIRECTIONS if d[1] == "image")
OTHER_DIRECTIONS = tuple(d for d in DIRECTIONS if d[1] != "image")
Embeddings = Mapping[str, np.ndarray]


def split_rows(metadata: pd.DataFrame, split: str) -> np.ndarray:
    """Row indices of ``split`` in ``metadata`` order."""
    return np.flatnonzero((metadata["split"] == split).to_numpy())


def judge_readers(
    image_judge: AttributeJudge, speech_judge: AttributeJudge, metadata: pd.DataFrame
) -> dict[str, Callable[[Any], np.ndarray]]:
    """The judge of each modality as a function from its outputs (images, sentences,
    log-mels) to ``(N, 4)`` label indices in the palette order of ``metadata``."""
    return {
        "image": image_judge.predict_array,
        "text": TextJudge(palette_of(metadata)).predict,
        "speech": speech_judge.predict_array,
    }


def evaluation_splits(metadata: pd.DataFrame) -> tuple[str, ...]:
    """The splits of :data:`EVALUATION_SPLITS` that ``metadata`` has rows of, in that order."""
    present = set(metadata["split"].unique())
    return tuple(split for split in EVALUATION_SPLITS if split in present)


def splits_from(
    metadata: pd.DataFrame, source: str | None, splits: Sequence[str] | None = None
) -> list[str]:
    """The splits scored in the directions from ``source``: ``splits`` (default
    :func:`evaluation_splits`) that ``metadata`` has. A respoken split (``unseen_voices``: the
    test rows spoken by other voices) differs from the test split only in its speech, so it
    is scored only from ``source="speech"``; ``source=None`` is a score that does not start
    from speech alone (e.g. the distance between every pair of modalities)."""
    present = set(metadata["split"].unique())
    return [
        split
        for split in (evaluation_splits(metadata) if splits is None else splits)
        if split in present and (split not in RESPOKEN_SPLITS or source == "speech")
    ]


def generate_images(
    generator: ConditionalGenerator,
    embeddings: Embeddings,
    metadata: pd.DataFrame,
    splits: Sequence[str] | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Images generated from the text and the speech of every sample of ``splits`` (default:
    :func:`splits_from` of each direction's source).

    Returns ``(M, 28, 56, 3) uint8`` images and an index table, one row per image: direction,
    split, sample_id, the prompt's sentence and the four attributes it was conditioned on.
    ``splits`` defaults to :func:`evaluation_splits`.
    """
    images, frames = [], []
    for source, target in IMAGE_DIRECTIONS:
        for split in splits_from(metadata, source, splits):
            rows = split_rows(metadata, split)
            images.append(
                generator.generate(source, embeddings[source][rows], target, embeddings=True)
            )
            frame = metadata.iloc[rows][["sample_id", "split", "text", *ATTRIBUTES]].copy()
            frame.insert(0, "direction", f"{source}_to_{target}")
            frames.append(frame)
    return np.concatenate(images), pd.concat(frames, ignore_index=True)


def score_coherence(
    generated_images: np.ndarray,
    generated_images_index: pd.DataFrame,
    image_judge: AttributeJudge,
    speech_judge: AttributeJudge,
    generator: ConditionalGenerator,
    embeddings: Embeddings,
    metadata: pd.DataFrame,
    splits: Sequence[str] | None = None,
) -> tuple[dict[str, float], Figure]:
    """``coherence/<source>_to_<target>/<split>/<measure>`` for every direction and split
    (:func:`splits_from`: ``unseen_voices`` from speech only), and the text→image test
    confusion matrices.

    Images come from :func:`generate_images`; the other directions are generated here with
    ``generator`` (which needs the text and speech autoencoders), on ``splits`` (default
    :func:`evaluation_splits`).
    """
    colors = palette_of(metadata)
    scores: dict[str, float] = {}
    figure = None
    for (direction, split), part in generated_images_index.groupby(
        ["direction", "split"], sort=False
    ):
        pred = image_judge.predict_array(generated_images[part.index.to_numpy()])
        target = encode_attributes(part, colors)
        scores.update(prefixed(coherence(pred, target), "coherence", direction, split))
        if (direction, split) == ("text_to_image", "test"):
            figure = confusion_matrices(pred, target, ATTRIBUTES, attribute_class_names(colors))

    readers = judge_readers(image_judge, speech_judge, metadata)
    for source, target in OTHER_DIRECTIONS:
        for split in splits_from(metadata, source, splits):
            rows = split_rows(metadata, split)
            outputs = generator.generate(source, embeddings[source][rows], target, embeddings=True)
            pred = readers[target](outputs)
            truth = encode_attributes(metadata.iloc[rows], colors)
            scores.update(
                prefixed(coherence(pred, truth), "coherence", f"{source}_to_{target}", split)
            )
    return scores, figure


def measure_alignment(
    model: JointEmbeddingModel,
    embeddings: Embeddings,
    latent_means: Embeddings,
    metadata: pd.DataFrame,
    retrieval_gallery: int,
    splits: Sequence[str] | None = None,
) -> dict[str, float]:
    """Mean D(q_m, q_n) per constrained pair, and cross-modal retrieval recall@1/@10 between
    the latent means (query one modality, gallery of ``retrieval_gallery`` samples of another),
    on ``splits`` (default :func:`evaluation_splits`); on ``unseen_voices`` only retrieval
    with speech queries (:func:`splits_from`)."""
    distance = model.config.distance
    scores: dict[str, float] = {}
    for split in splits_from(metadata, "speech", splits):
        rows = split_rows(metadata, split)
        if split in splits_from(metadata, None, splits):
            for name, value in mean_distances(
                model, {m: e[rows] for m, e in embeddings.items()}
            ).items():
                pair = name.split("/", 1)[1]
                scores[metric_name("alignment", distance, pair, split)] = value
        gallery = rows[:retrieval_gallery]
        for source in MODALITIES:
            for target in MODALITIES:
                if source != target and split in splits_from(metadata, source, splits):
                    recall = retrieval_recall(
                        latent_means[source][gallery], latent_means[target][gallery]
                    )
                    scores.update(prefixed(recall, "retrieval", f"{source}_to_{target}", split))
    return scores


def measure_quality(
    generated_images: np.ndarray,
    generated_images_index: pd.DataFrame,
    images: np.ndarray,
    image_judge: AttributeJudge,
    generator: ConditionalGenerator,
    text_embeddings: np.ndarray,
    metadata: pd.DataFrame,
    *,
    seed: int,
    diversity_prompts: int,
    n_samples: int,
    grid_prompts: int,
    splits: Sequence[str] | None = None,
) -> tuple[dict[str, float], dict[str, Figure]]:
    """Fréchet distance to real test images in the judge's feature space (every generated
    direction and split), diversity of ``n_samples`` text→image samples per prompt, and one
    text prompt → samples grid per split of ``splits`` (default :func:`evaluation_splits`;
    :func:`splits_from` text, so not ``unseen_voices``), keyed by split."""
    real = image_judge.features_array(images[split_rows(metadata, "test")])
    scores: dict[str, float] = {}
    for (direction, split), part in generated_images_index.groupby(
        ["direction", "split"], sort=False
    ):
        fake = image_judge.features_array(generated_images[part.index.to_numpy()])
        scores[metric_name("frechet", direction, split)] = frechet_distance(fake, real)

    seed_everything(seed)  # the samples drawn from q(z | text), so reruns score the same
    grids = {}
    for split in splits_from(metadata, "text", splits):
        rows = split_rows(metadata, split)[:diversity_prompts]
        samples = generator.generate(
            "text", text_embeddings[rows], "image", n_samples, use_mean=False, embeddings=True
        )
        features = image_judge.features_array(samples.reshape(-1, *samples.shape[2:]))
        scores[metric_name("diversity", "text_to_image", split)] = diversity(
            features.reshape(len(rows), n_samples, -1)
        )
        shown = slice(0, grid_prompts)
        title = f"text → image, {split} sentences: {n_samples} samples drawn from q(z | text) each"
        grids[split] = prompt_grid(
            metadata["text"].iloc[rows[shown]].tolist(), samples[shown], title=title
        )
    return scores, grids
