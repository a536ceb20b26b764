"""Thin adapters from datasets and ``params:evaluation`` to cemap.evaluation and cemap.joint.

Labels are used here only to judge: judges are trained on real data for scoring, and every
generated sample is compared with the attributes of the prompt it was conditioned on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cemap.concepts import ATTRIBUTES
from cemap.evaluation import ladder, scoring
from cemap.evaluation.figures import latent_projection, loss_curves
from cemap.evaluation.judges import load_judge, save_judge, train_image_judge, train_speech_judge
from cemap.evaluation.labels import encode_attributes, palette_of
from cemap.evaluation.metrics import coherence, prefixed
from cemap.evaluation.report import render_report
from cemap.evaluation.scoring import split_rows as _rows
from cemap.evaluation.text_judge import TextJudge
from cemap.joint.checkpoint import load_joint_model
from cemap.joint.generation import ConditionalGenerator
from cemap.pipelines.evaluation.params import EvaluationParams
from cemap.serving import CrossModalImageModel
from cemap.tracking import mlflow_metric_name

Checkpoint = dict[str, Any]
_colors = palette_of
#: The splits with a prompt → samples grid (``prompt_grid_<split>``), in the node's output order.
PROMPT_GRID_SPLITS = ("test", "heldout_tuples", "heldout_pairs")


def _require_splits(metadata: pd.DataFrame) -> None:
    """Stop before any scoring when ``metadata`` lacks a split the report needs (data made by
    an older configuration, say)."""
    missing = [s for s in PROMPT_GRID_SPLITS if not (metadata["split"] == s).any()]
    if missing:
        raise ValueError(
            f"metadata has no rows of split(s) {missing} (it has "
            f"{sorted(metadata['split'].unique())}); regenerate the data with "
            "`kedro run --pipelines=data_generation` and re-run the chain."
        )


def _generator(joint: Checkpoint, autoencoders: dict[str, Checkpoint], params: EvaluationParams):
    return ConditionalGenerator.from_checkpoints(
        joint, autoencoders, device=params.device, routes=params.routes
    )


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
        settings.train_config(
            name, device=params.device, seed=params.seed, progress=params.progress
        ),
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
    """Images generated from the text and the speech of every evaluated sample, and their
    index table (``cemap.evaluation.scoring.generate_images``)."""
    _require_splits(metadata)
    generator = _generator(joint_model, {"image": image_autoencoder}, params)
    embeddings = {"text": text_embeddings, "speech": speech_embeddings}
    return scoring.generate_images(generator, embeddings, metadata)


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
    text→image test confusion matrices (``cemap.evaluation.scoring.score_coherence``)."""
    autoencoders = {"text": text_autoencoder, "speech": speech_autoencoder}
    return scoring.score_coherence(
        generated_images,
        generated_images_index,
        load_judge(image_judge),
        load_judge(speech_judge),
        _generator(joint_model, autoencoders, params),
        {"image": image_embeddings, "text": text_embeddings, "speech": speech_embeddings},
        metadata,
    )


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
    """Mean D(q_m, q_n) per constrained pair and cross-modal retrieval recall@1/@10
    (``cemap.evaluation.scoring.measure_alignment``)."""
    return scoring.measure_alignment(
        load_joint_model(joint_model),
        {"image": image_embeddings, "text": text_embeddings, "speech": speech_embeddings},
        {"image": image_latent_means, "text": text_latent_means, "speech": speech_latent_means},
        metadata,
        params.retrieval_gallery,
    )


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
) -> tuple[dict[str, float], Figure, Figure, Figure]:
    """Fréchet distance, diversity, and the prompt → samples grids of test, held-out tuple and
    held-out pair sentences (``cemap.evaluation.scoring.measure_quality``)."""
    scores, grids = scoring.measure_quality(
        generated_images,
        generated_images_index,
        images,
        load_judge(image_judge),
        _generator(joint_model, {"image": image_autoencoder}, params),
        text_embeddings,
        metadata,
        seed=params.seed,
        diversity_prompts=params.diversity_prompts,
        n_samples=params.n_samples,
        grid_prompts=params.grid_prompts,
    )
    return scores, *(grids[split] for split in PROMPT_GRID_SPLITS)


def measure_ladder(
    joint_model: Checkpoint,
    image_autoencoder: Checkpoint,
    text_autoencoder: Checkpoint,
    speech_autoencoder: Checkpoint,
    image_judge: Checkpoint,
    speech_judge: Checkpoint,
    images: np.ndarray,
    speech_features: np.ndarray,
    image_embeddings: np.ndarray,
    text_embeddings: np.ndarray,
    speech_embeddings: np.ndarray,
    metadata: pd.DataFrame,
    coherence_metrics: dict[str, float],
    params: EvaluationParams,
) -> tuple[dict[str, float], Figure]:
    """``ladder/<source>_to_<target>/<rung>/<split>/<measure>`` for every direction and split,
    and its figure (``cemap.evaluation.ladder``)."""
    autoencoders = {
        "image": image_autoencoder,
        "text": text_autoencoder,
        "speech": speech_autoencoder,
    }
    metrics = ladder.measure_ladder(
        _generator(joint_model, autoencoders, params),
        scoring.judge_readers(load_judge(image_judge), load_judge(speech_judge), metadata),
        {"image": images, "text": metadata["text"].tolist(), "speech": speech_features},
        {"image": image_embeddings, "text": text_embeddings, "speech": speech_embeddings},
        metadata,
        coherence_metrics,
        seed=params.seed,
    )
    return metrics, ladder.plot_ladder(metrics)


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
    text_autoencoder: Checkpoint,
    speech_autoencoder: Checkpoint,
    image_embeddings: np.ndarray,
    metadata: pd.DataFrame,
    params: EvaluationParams,
) -> dict[str, tuple[np.ndarray, int]]:
    """A few test images spoken by the joint model (Griffin-Lim audio), named by their sentence
    (the text autoencoder: image→speech goes through the generated sentence, ``params.routes``)."""
    autoencoders = {"text": text_autoencoder, "speech": speech_autoencoder}
    generator = _generator(joint_model, autoencoders, params)
    rows = _rows(metadata, "test")[: params.n_example_wavs]
    waveforms = generator.generate(
        "image", image_embeddings[rows], "speech", embeddings=True, speech_output="waveform"
    )
    rate = generator.autoencoders["speech"].config.spec.sample_rate
    return {
        f"{i:02d}_{text.replace(' ', '_')}": (waveform, rate)
        for i, (text, waveform) in enumerate(
            zip(metadata["text"].iloc[rows], waveforms, strict=True)
        )
    }


# Report figures: catalog entry -> (caption, path relative to the report), in report order.
_GRID_CAPTIONS = {
    "test": "test",
    "heldout_tuples": "held-out tuples: combinations never trained on",
    "heldout_pairs": "held-out pairs: a (digit, colour) pair never trained on",
}
REPORT_FIGURES = {
    **{
        f"prompt_grid_{split}": (
            f"Text → image prompts ({_GRID_CAPTIONS.get(split, split)})",
            f"figures/prompt_grid_{split}.png",
        )
        for split in PROMPT_GRID_SPLITS
    },
    "confusion_text_to_image": (
        "Text → image confusion matrices (test)",
        "figures/confusion_text_to_image.png",
    ),
    "latent_projection": (
        "Latent means by modality and attribute (test)",
        "figures/latent_projection.png",
    ),
    "ladder_figure": (
        "Where each direction loses its points (diagnostic ladder, test)",
        "figures/ladder.png",
    ),
    "loss_curves": ("Loss curves of every trainer", "figures/loss_curves.png"),
    "image.reconstruction_figure": (
        "Image autoencoder: test images and reconstructions",
        "embeddings/image_reconstructions.png",
    ),
    "text.reconstruction_figure": (
        "Text autoencoder: test sentences and reconstructions",
        "embeddings/text_reconstructions.png",
    ),
    "speech.reconstruction_figure": (
        "Speech autoencoder: test log-mels and reconstructions",
        "embeddings/speech_reconstructions.png",
    ),
}


def collect_metrics(
    judge_metrics: dict[str, float],
    coherence_metrics: dict[str, float],
    alignment_metrics: dict[str, float],
    quality_metrics: dict[str, float],
    ladder_metrics: dict[str, float],
    run_info: dict[str, str],
    *figures: bytes,
) -> tuple[dict[str, float], dict[str, dict[str, float]], str, str]:
    """Every final metric flat (for data/08_reporting/metrics.json), the same for MLflow, and
    the markdown and HTML report: ``run_info`` (run id, environment, date, configuration) as
    its header, ``figures`` (PNG bytes, in ``REPORT_FIGURES`` order) embedded in the HTML."""
    metrics = {
        **judge_metrics,
        **coherence_metrics,
        **alignment_metrics,
        **quality_metrics,
        **ladder_metrics,
    }
    metrics = {name: float(value) for name, value in sorted(metrics.items())}
    for_mlflow = {
        mlflow_metric_name(name): {"value": value, "step": 0} for name, value in metrics.items()
    }
    others = {k: v for k, v in metrics.items() if not k.startswith("judge/")}
    refs = {
        caption: (path, png)
        for (caption, path), png in zip(REPORT_FIGURES.values(), figures, strict=True)
    }
    markdown, html = render_report(others, judge_metrics, refs, header=run_info)
    return metrics, for_mlflow, markdown, html


def build_cross_modal_image_model(
    joint_model: Checkpoint,
    image_autoencoder: Checkpoint,
    text_autoencoder: Checkpoint,
    speech_autoencoder: Checkpoint,
) -> CrossModalImageModel:
    """The served pyfunc model over the trained checkpoints (``cemap.serving``); the catalog's
    ``CrossModalModelDataset`` logs and registers it."""
    return CrossModalImageModel(
        {
            "joint": joint_model,
            "image": image_autoencoder,
            "text": text_autoencoder,
            "speech": speech_autoencoder,
        }
    )
