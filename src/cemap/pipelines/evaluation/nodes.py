"""Thin adapters from datasets and ``params:evaluation`` to cemap.evaluation and cemap.joint.

Labels are used here only to judge: judges are trained on real data for scoring, and every
generated sample is compared with the attributes of the prompt it was conditioned on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cemap.data.splits import ATTRIBUTES
from cemap.evaluation.figures import confusion_matrices, latent_projection, loss_curves, prompt_grid
from cemap.evaluation.judges import (
    TextJudge,
    attribute_class_names,
    encode_attributes,
    load_judge,
    save_judge,
    train_image_judge,
    train_speech_judge,
)
from cemap.evaluation.metrics import (
    DIRECTIONS,
    coherence,
    diversity,
    frechet_distance,
    metric_name,
    prefixed,
    retrieval_recall,
)
from cemap.evaluation.report import render_report
from cemap.joint.alignment import mean_distances
from cemap.joint.checkpoint import load_joint_model
from cemap.joint.generation import ConditionalGenerator
from cemap.pipelines.evaluation.params import EvaluationParams
from cemap.torch_runtime import seed_everything

MODALITIES = ("image", "text", "speech")
EVAL_SPLITS = ("test", "heldout")
IMAGE_DIRECTIONS = tuple(d for d in DIRECTIONS if d[1] == "image")  # judged on images
OTHER_DIRECTIONS = tuple(d for d in DIRECTIONS if d[1] != "image")
Checkpoint = dict[str, Any]


def _colors(metadata: pd.DataFrame) -> list[str]:
    """The palette's colour names, in a fixed order derived from the data alone."""
    return sorted(set(metadata["color_left"]) | set(metadata["color_right"]))


def _rows(metadata: pd.DataFrame, split: str) -> np.ndarray:
    return np.flatnonzero((metadata["split"] == split).to_numpy())


def _generator(joint: Checkpoint, autoencoders: dict[str, Checkpoint], params: EvaluationParams):
    return ConditionalGenerator.from_checkpoints(joint, autoencoders, device=params.device)


def _judge_training(
    train: Any, name: str, inputs: np.ndarray, metadata: pd.DataFrame, params: EvaluationParams
) -> tuple[Checkpoint, list[dict[str, float]]]:
    labels = encode_attributes(metadata, _colors(metadata))
    fit_rows, val_rows = _rows(metadata, "train"), _rows(metadata, "val")
    settings = getattr(params, name)
    judge, history = train(
        inputs[fit_rows],
        labels[fit_rows],
        inputs[val_rows],
        labels[val_rows],
        settings.train_config(name, params.device, params.seed, params.progress),
    )
    return save_judge(judge), history


def train_image_judge_node(
    images: np.ndarray, metadata: pd.DataFrame, params: EvaluationParams
) -> tuple[Checkpoint, list[dict[str, float]]]:
    """The image judge (four heads), trained on real train images, for scoring only."""
    return _judge_training(train_image_judge, "image_judge", images, metadata, params)


def train_speech_judge_node(
    speech_features: np.ndarray, metadata: pd.DataFrame, params: EvaluationParams
) -> tuple[Checkpoint, list[dict[str, float]]]:
    """The speech judge (four heads), trained on real train log-mels, for scoring only."""
    return _judge_training(train_speech_judge, "speech_judge", speech_features, metadata, params)


def judge_real_data(
    image_judge: Checkpoint,
    speech_judge: Checkpoint,
    images: np.ndarray,
    speech_features: np.ndarray,
    metadata: pd.DataFrame,
) -> dict[str, float]:
    """``judge/<modality>/test/<measure>``: how well each judge reads real test data."""
    rows = _rows(metadata, "test")
    target = encode_attributes(metadata.iloc[rows], _colors(metadata))
    predictions = {
        "image": load_judge(image_judge).predict_array(images[rows]),
        "speech": load_judge(speech_judge).predict_array(speech_features[rows]),
        "text": TextJudge(_colors(metadata)).predict(metadata["text"].iloc[rows].tolist()),
    }
    scores: dict[str, float] = {}
    for modality, pred in predictions.items():
        scores.update(prefixed(coherence(pred, target), "judge", modality, "test"))
    return scores


def generate_images_for_evaluation(
    joint_model: Checkpoint,
    image_autoencoder: Checkpoint,
    text_embeddings: np.ndarray,
    speech_embeddings: np.ndarray,
    metadata: pd.DataFrame,
    params: EvaluationParams,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Images generated from the text and the speech of every test and held-out sample.

    Returns ``(M, 28, 56, 3) uint8`` images and an index table, one row per image: direction,
    split, sample_id, the prompt's sentence and the four attributes it was conditioned on.
    """
    generator = _generator(joint_model, {"image": image_autoencoder}, params)
    embeddings = {"text": text_embeddings, "speech": speech_embeddings}
    images, frames = [], []
    for source, target in IMAGE_DIRECTIONS:
        for split in EVAL_SPLITS:
            rows = _rows(metadata, split)
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
    image_judge: Checkpoint,
    speech_judge: Checkpoint,
    joint_model: Checkpoint,
    text_autoencoder: Checkpoint,
    speech_autoencoder: Checkpoint,
    image_embeddings: np.ndarray,
    text_embeddings: np.ndarray,
    speech_embeddings: np.ndarray,
    metadata: pd.DataFrame,
    params: EvaluationParams,
) -> tuple[dict[str, float], Figure]:
    """``coherence/<source>_to_<target>/<split>/<measure>`` for every direction, and the
    text→image test confusion matrices."""
    colors = _colors(metadata)
    scores: dict[str, float] = {}
    image_reader = load_judge(image_judge)
    for (direction, split), part in generated_images_index.groupby(
        ["direction", "split"], sort=False
    ):
        pred = image_reader.predict_array(generated_images[part.index.to_numpy()])
        target = encode_attributes(part, colors)
        scores.update(prefixed(coherence(pred, target), "coherence", direction, split))
        if (direction, split) == ("text_to_image", "test"):
            figure = confusion_matrices(pred, target, ATTRIBUTES, attribute_class_names(colors))

    generator = _generator(
        joint_model, {"text": text_autoencoder, "speech": speech_autoencoder}, params
    )
    readers = {"text": TextJudge(colors).predict, "speech": load_judge(speech_judge).predict_array}
    embeddings = {"image": image_embeddings, "text": text_embeddings, "speech": speech_embeddings}
    for source, target in OTHER_DIRECTIONS:
        for split in EVAL_SPLITS:
            rows = _rows(metadata, split)
            outputs = generator.generate(source, embeddings[source][rows], target, embeddings=True)
            pred = readers[target](outputs)
            truth = encode_attributes(metadata.iloc[rows], colors)
            scores.update(
                prefixed(coherence(pred, truth), "coherence", f"{source}_to_{target}", split)
            )
    return scores, figure


def measure_alignment(
    joint_model: Checkpoint,
    image_embeddings: np.ndarray,
    text_embeddings: np.ndarray,
    speech_embeddings: np.ndarray,
    image_latent_means: np.ndarray,
    text_latent_means: np.ndarray,
    speech_latent_means: np.ndarray,
    metadata: pd.DataFrame,
    params: EvaluationParams,
) -> dict[str, float]:
    """Mean D(q_m, q_n) per constrained pair, and cross-modal retrieval recall@1/@10 between the
    latent means (query one modality, gallery of ``retrieval_gallery`` samples of another)."""
    model = load_joint_model(joint_model)
    embeddings = {"image": image_embeddings, "text": text_embeddings, "speech": speech_embeddings}
    means = {"image": image_latent_means, "text": text_latent_means, "speech": speech_latent_means}
    distance = model.config.distance
    scores: dict[str, float] = {}
    for split in EVAL_SPLITS:
        rows = _rows(metadata, split)
        for name, value in mean_distances(
            model, {m: e[rows] for m, e in embeddings.items()}
        ).items():
            pair = name.split("/", 1)[1]
            scores[metric_name("alignment", distance, pair, split)] = value
        gallery = rows[: params.retrieval_gallery]
        for source in MODALITIES:
            for target in MODALITIES:
                if source != target:
                    recall = retrieval_recall(means[source][gallery], means[target][gallery])
                    scores.update(prefixed(recall, "retrieval", f"{source}_to_{target}", split))
    return scores


def measure_quality(
    generated_images: np.ndarray,
    generated_images_index: pd.DataFrame,
    images: np.ndarray,
    image_judge: Checkpoint,
    joint_model: Checkpoint,
    image_autoencoder: Checkpoint,
    text_embeddings: np.ndarray,
    metadata: pd.DataFrame,
    params: EvaluationParams,
) -> tuple[dict[str, float], Figure, Figure]:
    """Fréchet distance to real test images in the judge's feature space, diversity of several
    samples per prompt, and the prompt → samples grids of test and held-out sentences."""
    judge = load_judge(image_judge)
    real = judge.features_array(images[_rows(metadata, "test")])
    scores: dict[str, float] = {}
    for (direction, split), part in generated_images_index.groupby(
        ["direction", "split"], sort=False
    ):
        fake = judge.features_array(generated_images[part.index.to_numpy()])
        scores[metric_name("frechet", direction, split)] = frechet_distance(fake, real)

    generator = _generator(joint_model, {"image": image_autoencoder}, params)
    seed_everything(params.seed)  # the samples drawn from q(z | text), so reruns score the same
    grids = []
    for split in EVAL_SPLITS:
        rows = _rows(metadata, split)[: params.diversity_prompts]
        samples = generator.generate(
            "text",
            text_embeddings[rows],
            "image",
            params.n_samples,
            use_mean=False,
            embeddings=True,
        )
        features = judge.features_array(samples.reshape(-1, *samples.shape[2:]))
        scores[metric_name("diversity", "text_to_image", split)] = diversity(
            features.reshape(len(rows), params.n_samples, -1)
        )
        shown = slice(0, params.grid_prompts)
        grids.append(prompt_grid(metadata["text"].iloc[rows[shown]].tolist(), samples[shown]))
    return scores, grids[0], grids[1]


def plot_latents_and_curves(
    image_latent_means: np.ndarray,
    text_latent_means: np.ndarray,
    speech_latent_means: np.ndarray,
    metadata: pd.DataFrame,
    image_history: pd.DataFrame | list[dict[str, float]],
    text_history: pd.DataFrame | list[dict[str, float]],
    speech_history: pd.DataFrame | list[dict[str, float]],
    joint_history: list[dict[str, float]],
    image_judge_history: list[dict[str, float]],
    speech_judge_history: list[dict[str, float]],
) -> tuple[Figure, Figure, dict[str, list[dict[str, float]]]]:
    """The test latents projected and coloured by modality and attribute; every trainer's loss
    curves; and those curves as MLflow metric histories (step = epoch)."""
    rows = _rows(metadata, "test")[:1000]
    projection = latent_projection(
        {
            "image": image_latent_means[rows],
            "text": text_latent_means[rows],
            "speech": speech_latent_means[rows],
        },
        {
            attribute: metadata[attribute].iloc[rows].astype(str).to_numpy()
            for attribute in ATTRIBUTES
        },
    )
    histories = {
        name: history.to_dict("records") if isinstance(history, pd.DataFrame) else history
        for name, history in {
            "image_autoencoder": image_history,
            "text_autoencoder": text_history,
            "speech_autoencoder": speech_history,
            "joint_model": joint_history,
            "image_judge": image_judge_history,
            "speech_judge": speech_judge_history,
        }.items()
    }
    curves: dict[str, list[dict[str, float]]] = {}
    for model, history in histories.items():
        for step, epoch in enumerate(history):
            for key, value in epoch.items():
                if key != "epoch" and np.isfinite(value):
                    curves.setdefault(f"history/{model}/{key}", []).append(
                        {"value": float(value), "step": step}
                    )
    return projection, loss_curves(histories), curves


def export_image_to_speech_examples(
    joint_model: Checkpoint,
    speech_autoencoder: Checkpoint,
    image_embeddings: np.ndarray,
    metadata: pd.DataFrame,
    params: EvaluationParams,
) -> dict[str, tuple[np.ndarray, int]]:
    """A few test images spoken by the joint model (Griffin-Lim audio), named by their sentence."""
    generator = _generator(joint_model, {"speech": speech_autoencoder}, params)
    rows = _rows(metadata, "test")[: params.n_example_wavs]
    waveforms = generator.generate(
        "image", image_embeddings[rows], "speech", embeddings=True, speech_output="waveform"
    )
    rate = generator.autoencoders["speech"].config.sample_rate
    return {
        f"{i:02d}_{text.replace(' ', '_')}": (waveform, rate)
        for i, (text, waveform) in enumerate(
            zip(metadata["text"].iloc[rows], waveforms, strict=True)
        )
    }


def collect_metrics(
    judge_metrics: dict[str, float],
    coherence_metrics: dict[str, float],
    alignment_metrics: dict[str, float],
    quality_metrics: dict[str, float],
) -> tuple[dict[str, float], dict[str, dict[str, float]], str, str]:
    """Every final metric flat (for data/08_reporting/metrics.json), the same for MLflow, and
    the markdown and HTML report."""
    metrics = {**judge_metrics, **coherence_metrics, **alignment_metrics, **quality_metrics}
    metrics = {name: float(value) for name, value in sorted(metrics.items())}
    # MLflow forbids '@' in metric names: recall@10 is logged as recall_at_10.
    for_mlflow = {
        name.replace("@", "_at_"): {"value": value, "step": 0} for name, value in metrics.items()
    }
    others = {k: v for k, v in metrics.items() if not k.startswith("judge/")}
    figures = {
        "Text → image prompts (test)": "figures/prompt_grid_test.png",
        "Text → image prompts (held-out combinations)": "figures/prompt_grid_heldout.png",
        "Text → image confusion matrices (test)": "figures/confusion_text_to_image.png",
        "Latent means by modality and attribute (test)": "figures/latent_projection.png",
        "Loss curves": "figures/loss_curves.png",
    }
    markdown, html = render_report(others, judge_metrics, figures)
    return metrics, for_mlflow, markdown, html
