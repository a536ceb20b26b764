"""Thin adapters: train every objective with every seed, score it like the evaluation pipeline
does (``cemap.evaluation.scoring``, the same judges), and tabulate.

Each (objective, seed) is one MLflow child run under the run of ``kedro run --pipelines=objective_comparison``
(params, metrics, the joint checkpoint); the table goes to ``data/08_reporting/objective_comparison.md``.
"""

from __future__ import annotations

import logging
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch

from cemap.evaluation import ladder, scoring
from cemap.evaluation.comparison import comparison_summary, render_comparison
from cemap.evaluation.judges import load_judge
from cemap.joint.adaptation import adapt_checkpoint
from cemap.joint.checkpoint import joint_checkpoint, load_joint_model
from cemap.joint.generation import ConditionalGenerator
from cemap.joint.objectives import OBJECTIVES
from cemap.joint.training import latent_means, train_joint_model
from cemap.pipelines.evaluation.params import EvaluationParams
from cemap.pipelines.joint_latent.params import JointLatentParams
from cemap.pipelines.objective_comparison.params import ObjectiveComparisonParams
from cemap.torch_runtime import select_device
from cemap.tracking import flatten, mlflow_metric_name

logger = logging.getLogger(__name__)
Checkpoint = dict[str, Any]


def _score(
    joint: Checkpoint,
    inputs: dict[str, Any],
    evaluation: EvaluationParams,
) -> dict[str, float]:
    """Coherence, alignment, retrieval and Fréchet distance of one joint model, computed by
    ``cemap.evaluation.scoring`` exactly as the evaluation pipeline computes them."""
    e = inputs["embeddings"]
    metadata = inputs["metadata"]
    model = load_joint_model(joint)
    generator = ConditionalGenerator.from_checkpoints(
        joint, inputs["autoencoders"], device=evaluation.device, routes=evaluation.routes
    )
    judges = {m: load_judge(c) for m, c in inputs["judges"].items()}
    generated, index = scoring.generate_images(generator, e, metadata)
    coherence, _ = scoring.score_coherence(
        generated, index, judges["image"], judges["speech"], generator, e, metadata
    )
    means = latent_means(model, e)
    alignment = scoring.measure_alignment(model, e, means, metadata, evaluation.retrieval_gallery)
    quality, _ = scoring.measure_quality(  # the figures are the evaluation run's business
        generated,
        index,
        inputs["images"],
        judges["image"],
        generator,
        e["text"],
        metadata,
        seed=evaluation.seed,
        diversity_prompts=evaluation.diversity_prompts,
        n_samples=evaluation.n_samples,
        grid_prompts=evaluation.grid_prompts,
    )
    readers = scoring.judge_readers(judges["image"], judges["speech"], metadata)
    real = {
        "image": inputs["images"],
        "text": metadata["text"].tolist(),
        "speech": inputs["speech"],
    }
    diagnostics = ladder.measure_ladder(
        generator, readers, real, e, metadata, coherence, seed=evaluation.seed
    )
    return {**coherence, **alignment, **quality, **diagnostics}


def _log_child_run(
    objective: str,
    seed: int,
    params: JointLatentParams,
    metrics: dict[str, float],
    joint: Checkpoint,
) -> None:
    """One nested MLflow run: the run's parameters, its metrics and its joint checkpoint.
    Nothing is logged when no run is active (the pipeline run outside kedro-mlflow)."""
    if mlflow.active_run() is None:
        return
    tags = {"cemap.comparison.objective": objective, "cemap.comparison.seed": str(seed)}
    with mlflow.start_run(run_name=f"{objective}/seed_{seed}", nested=True, tags=tags):
        mlflow.log_params({k: str(v) for k, v in flatten(params, "joint_latent").items()})
        mlflow.log_metrics({mlflow_metric_name(name): value for name, value in metrics.items()})
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "joint_model.pt"
            torch.save(joint, path)
            mlflow.log_artifact(str(path), artifact_path="model")


def train_and_score(
    metadata: pd.DataFrame,
    images: np.ndarray,
    speech_features: np.ndarray,
    image_embeddings: np.ndarray,
    text_embeddings: np.ndarray,
    speech_embeddings: np.ndarray,
    image_autoencoder: Checkpoint,
    text_autoencoder: Checkpoint,
    speech_autoencoder: Checkpoint,
    image_judge: Checkpoint,
    speech_judge: Checkpoint,
    joint_latent: JointLatentParams,
    evaluation: EvaluationParams,
    comparison: ObjectiveComparisonParams,
    overrides: dict[str, Any],
) -> list[dict[str, float]]:
    """Train one objective (``overrides["objective"]``) once per comparison seed on the persisted
    embeddings and score each model: one flat metric dict per seed, with ``seed``,
    ``train/seconds``, ``train/epochs`` and ``train/best_epoch``."""
    objective = overrides["objective"]
    inputs = {
        "metadata": metadata,
        "images": images,
        "speech": speech_features,
        "embeddings": {
            "image": image_embeddings,
            "text": text_embeddings,
            "speech": speech_embeddings,
        },
        "autoencoders": {
            "image": image_autoencoder,
            "text": text_autoencoder,
            "speech": speech_autoencoder,
        },
        "judges": {"image": image_judge, "speech": speech_judge},
    }
    results = []
    for seed in comparison.seeds:
        params = comparison.run_params(joint_latent, objective, seed)
        result = train_joint_model(
            inputs["embeddings"],
            metadata["split"].to_numpy(),
            params.model.model_dump(),
            params.training.joint_train_config(),
        )
        joint, history = joint_checkpoint(result.model), result.history
        # Every objective decodes speech as the default run does: through a decoder adapted
        # to its own joint model.
        speech, _ = adapt_checkpoint(
            joint,
            speech_autoencoder,
            speech_features,
            metadata["split"].to_numpy(),
            inputs["embeddings"],
            params.decoder_adaptation.sources,
            params.adaptation_train_config(),
        )
        run_inputs = {**inputs, "autoencoders": {**inputs["autoencoders"], "speech": speech}}
        val_losses = [row["val/loss"] for row in history]
        metrics = {
            "seed": float(seed),
            "train/seconds": float(sum(row["seconds"] for row in history)),
            "train/epochs": float(len(history)),
            "train/best_epoch": float(np.argmin(val_losses) + 1),
            **_score(joint, run_inputs, evaluation),
        }
        logger.info(
            "objective comparison %s seed %d: text→image strict %.3f (test), %.0f s training",
            objective,
            seed,
            metrics["coherence/text_to_image/test/strict"],
            metrics["train/seconds"],
        )
        _log_child_run(objective, seed, params, metrics, joint)
        results.append(metrics)
    return results


def _hardware(device: torch.device) -> str:
    """Cores, torch threads and the device the runs trained on, for the table's caption."""
    text = f"{os.cpu_count()} CPU cores ({platform.machine()}), {torch.get_num_threads()} torch threads"
    if device.type == "cuda":
        text += f", trained on {torch.cuda.get_device_name(device)}"
    else:
        text += f", trained on {device.type}"
    return text + f", torch {torch.__version__}"


def summarise_comparison(
    joint_latent: JointLatentParams,
    comparison: ObjectiveComparisonParams,
    *results: list[dict[str, float]],
) -> tuple[str, dict[str, Any], dict[str, dict[str, float]]]:
    """The markdown table, every objective's per-seed and mean/std metrics (JSON), and the
    means and stds as MLflow metrics of the parent run (``objective_comparison/<objective>/<metric>/mean``)."""
    by_objective = dict(zip(OBJECTIVES, results, strict=True))  # the pipeline's node order
    summary = comparison_summary(by_objective)
    for_mlflow = {
        f"objective_comparison/{objective}/{mlflow_metric_name(name)}/{stat}": {
            "value": value,
            "step": 0,
        }
        for objective, stats in summary.items()
        for name, values in stats.items()
        for stat, value in values.items()
        if stat in ("mean", "std") and np.isfinite(value)
    }
    run = comparison.run_params(joint_latent, next(iter(OBJECTIVES)), comparison.seeds[0])
    device = select_device(run.training.device)  # as train_joint_model's fit resolves it
    markdown = render_comparison(summary, seeds=comparison.seeds, hardware=_hardware(device))
    return (
        markdown,
        {
            "summary": summary,
            "runs": by_objective,
        },
        for_mlflow,
    )
