"""Thin adapters: train every objective with every seed, score it like the evaluation pipeline
does (same node functions, same judges), and tabulate.

Each (objective, seed) is one MLflow child run under the run of ``kedro run --pipelines=benchmark``
(params, metrics, the joint checkpoint); the table goes to ``data/08_reporting/benchmark.md``.
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

from cemap.evaluation.benchmark import benchmark_summary, render_benchmark
from cemap.joint.objectives import OBJECTIVES
from cemap.pipelines.benchmark.params import BenchmarkParams
from cemap.pipelines.evaluation.nodes import (
    generate_images_for_evaluation,
    measure_alignment,
    measure_quality,
    score_coherence,
)
from cemap.pipelines.evaluation.params import EvaluationParams
from cemap.pipelines.joint_latent.nodes import encode_latent_means, train_joint_model
from cemap.pipelines.joint_latent.params import JointLatentParams
from cemap.torch_runtime import select_device
from cemap.tracking import flatten

logger = logging.getLogger(__name__)
Checkpoint = dict[str, Any]


def _score(
    joint: Checkpoint,
    inputs: dict[str, Any],
    evaluation: EvaluationParams,
) -> dict[str, float]:
    """Coherence, alignment, retrieval and Fréchet distance of one joint model, computed by the
    evaluation pipeline's own node functions."""
    e = inputs["embeddings"]
    metadata = inputs["metadata"]
    generated, index = generate_images_for_evaluation(
        joint, inputs["image_autoencoder"], e["text"], e["speech"], metadata, evaluation
    )
    coherence, _ = score_coherence(
        generated,
        index,
        inputs["image_judge"],
        inputs["speech_judge"],
        joint,
        inputs["text_autoencoder"],
        inputs["speech_autoencoder"],
        e["image"],
        e["text"],
        e["speech"],
        metadata,
        evaluation,
    )
    means = encode_latent_means(joint, e["image"], e["text"], e["speech"])
    alignment = measure_alignment(
        joint, e["image"], e["text"], e["speech"], *means, metadata, evaluation
    )
    quality, *_ = measure_quality(  # the figures are the evaluation run's business
        generated,
        index,
        inputs["images"],
        inputs["image_judge"],
        joint,
        inputs["image_autoencoder"],
        e["text"],
        metadata,
        evaluation,
    )
    return {**coherence, **alignment, **quality}


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
    tags = {"cemap.benchmark.objective": objective, "cemap.benchmark.seed": str(seed)}
    with mlflow.start_run(run_name=f"{objective}/seed_{seed}", nested=True, tags=tags):
        mlflow.log_params({k: str(v) for k, v in flatten(params, "joint_latent").items()})
        mlflow.log_metrics({name.replace("@", "_at_"): value for name, value in metrics.items()})
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "joint_model.pt"
            torch.save(joint, path)
            mlflow.log_artifact(str(path), artifact_path="model")


def train_and_score(
    metadata: pd.DataFrame,
    images: np.ndarray,
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
    benchmark: BenchmarkParams,
    overrides: dict[str, Any],
) -> list[dict[str, float]]:
    """Train one objective (``overrides["objective"]``) once per benchmark seed on the persisted
    embeddings and score each model: one flat metric dict per seed, with ``seed``,
    ``train/seconds``, ``train/epochs`` and ``train/best_epoch``."""
    objective = overrides["objective"]
    inputs = {
        "metadata": metadata,
        "images": images,
        "embeddings": {
            "image": image_embeddings,
            "text": text_embeddings,
            "speech": speech_embeddings,
        },
        "image_autoencoder": image_autoencoder,
        "text_autoencoder": text_autoencoder,
        "speech_autoencoder": speech_autoencoder,
        "image_judge": image_judge,
        "speech_judge": speech_judge,
    }
    results = []
    for seed in benchmark.seeds:
        params = benchmark.run_params(joint_latent, objective, seed)
        joint, history = train_joint_model(
            metadata, image_embeddings, text_embeddings, speech_embeddings, params
        )
        val_losses = [row["val/loss"] for row in history]
        metrics = {
            "seed": float(seed),
            "train/seconds": float(sum(row["seconds"] for row in history)),
            "train/epochs": float(len(history)),
            "train/best_epoch": float(np.argmin(val_losses) + 1),
            **_score(joint, inputs, evaluation),
        }
        logger.info(
            "benchmark %s seed %d: text→image strict %.3f (test), %.0f s training",
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


def summarise_benchmark(
    joint_latent: JointLatentParams, benchmark: BenchmarkParams, *results: list[dict[str, float]]
) -> tuple[str, dict[str, Any], dict[str, dict[str, float]]]:
    """The markdown table, every objective's per-seed and mean/std metrics (JSON), and the
    means and stds as MLflow metrics of the parent run (``benchmark/<objective>/<metric>/mean``)."""
    by_objective = dict(zip(OBJECTIVES, results, strict=True))  # the pipeline's node order
    summary = benchmark_summary(by_objective)
    for_mlflow = {
        f"benchmark/{objective}/{name.replace('@', '_at_')}/{stat}": {"value": value, "step": 0}
        for objective, stats in summary.items()
        for name, values in stats.items()
        for stat, value in values.items()
        if stat in ("mean", "std") and np.isfinite(value)
    }
    run = benchmark.run_params(joint_latent, next(iter(OBJECTIVES)), benchmark.seeds[0])
    device = select_device(run.training.device)  # as train_joint_model's fit resolves it
    markdown = render_benchmark(summary, seeds=benchmark.seeds, hardware=_hardware(device))
    return (
        markdown,
        {
            "summary": summary,
            "runs": by_objective,
        },
        for_mlflow,
    )
