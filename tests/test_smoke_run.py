"""The whole job on the smoke env: metrics, MLflow run, registered model, determinism."""

import json
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest

from cemap.concepts import EVALUATION_SPLITS, RESPOKEN_SPLITS
from cemap.evaluation.ladder import RUNGS
from cemap.evaluation.metrics import DIRECTIONS
from tests.conftest import make_project_copy, run_kedro

pytestmark = pytest.mark.e2e

# The smoke env registers under its own name: the real model is never replaced by a toy.
MODEL_NAME = "cemap-text-speech-to-image-smoke"


def _metrics(project):
    return json.loads((project / "data/smoke/08_reporting/metrics.json").read_text())


def _client(project):
    mlflow.set_tracking_uri(f"sqlite:///{project}/mlflow.db")
    return mlflow.MlflowClient()


def test_metrics_cover_every_direction_and_split(smoke_evaluated_project):
    metrics = _metrics(smoke_evaluated_project)
    for source, target in DIRECTIONS:
        # unseen_voices differs from test only in its speech: scored from speech only
        for split in (
            s for s in EVALUATION_SPLITS if s not in RESPOKEN_SPLITS or source == "speech"
        ):
            for measure in ("strict", "digit_left", "color_left", "digit_right", "color_right"):
                value = metrics[f"coherence/{source}_to_{target}/{split}/{measure}"]
                assert 0.0 <= value <= 1.0
    for source, target in DIRECTIONS:
        name = f"{source}_to_{target}"
        routed = name == "image_to_speech"  # the default route: through the generated sentence
        for rung in RUNGS:
            if rung == "routed" and not routed:
                assert f"ladder/{name}/routed/test/strict" not in metrics
                continue
            value = metrics[f"ladder/{name}/{rung}/test/strict"]
            assert 0.0 <= value <= 1.0
        # the coherence is the cross rung, or the routed one where the direction has a route
        assert (
            metrics[f"ladder/{name}/{'routed' if routed else 'cross'}/test/strict"]
            == metrics[f"coherence/{name}/test/strict"]
        )
        assert metrics[f"ladder/{source}_to_{target}/embedding_error/test/cross_mse"] >= 0
    assert metrics["judge/text/test/strict"] == 1.0  # the rule-based judge reads real sentences
    assert "retrieval/text_to_image/test/recall@10" in metrics
    assert metrics["frechet/text_to_image/test"] >= 0
    index = pd.read_parquet(
        smoke_evaluated_project / "data/smoke/07_model_output/generated_images_index.parquet"
    )
    images = np.load(smoke_evaluated_project / "data/smoke/07_model_output/generated_images.npy")
    assert images.shape == (len(index), 28, 56, 3) and images.dtype == np.uint8
    assert set(index["direction"]) == {"text_to_image", "speech_to_image"}
    report = (smoke_evaluated_project / "data/smoke/08_reporting/report.md").read_text()
    assert "coherence" in report.lower()
    assert "Where each direction loses its points" in report and "figures/ladder.png" in report
    for split in (s for s in EVALUATION_SPLITS if s not in RESPOKEN_SPLITS):  # text prompts
        assert f"figures/prompt_grid_{split}.png" in report
        assert (
            smoke_evaluated_project / f"data/smoke/08_reporting/figures/prompt_grid_{split}.png"
        ).is_file()
    html = (smoke_evaluated_project / "data/smoke/08_reporting/report.html").read_text()
    assert html.count("data:image/png;base64,") >= 8  # every figure embedded


def test_mlflow_run_holds_params_metrics_artifacts_and_model(smoke_evaluated_project):
    client = _client(smoke_evaluated_project)
    runs = mlflow.search_runs(
        experiment_names=["cemap"],
        filter_string="tags.mlflow.runName LIKE 'evaluation · smoke · %'",
        output_format="list",
    )
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["evaluation.image_judge.epochs"] == "1"  # typed params, one key each
    assert "coherence/text_to_image/test/strict" in run.data.metrics
    assert "retrieval/text_to_image/test/recall_at_1" in run.data.metrics
    history = client.get_metric_history(run.info.run_id, "history/image_judge/train/loss")
    assert [m.step for m in history] == list(range(len(history))) and history
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.md", "report.html", "figures"} <= artifacts
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert "figures/prompt_grid_test.png" in figures
    wavs = [a.path for a in client.list_artifacts(run.info.run_id, "audio/image_to_speech")]
    assert wavs and all(path.endswith(".wav") for path in wavs)
    assert not client.search_registered_models("name = 'cemap-text-speech-to-image'")
    embeddings_run = mlflow.search_runs(
        experiment_names=["cemap"],
        filter_string="tags.mlflow.runName LIKE 'embeddings+joint_latent · smoke · %'",
        output_format="list",
    )[0]
    for modality in ("image", "text", "speech"):  # the README's embedding metrics
        assert f"embeddings/{modality}/probe/mean" in embeddings_run.data.metrics
    assert "embeddings/image/test/mse" in embeddings_run.data.metrics
    assert "summary/probe_image_embedding" in embeddings_run.data.metrics
    reconstructions = client.list_artifacts(
        embeddings_run.info.run_id, "audio/speech_reconstructions"
    )
    assert reconstructions and all(a.path.endswith(".wav") for a in reconstructions)
    (version,) = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    assert "Trained by run `evaluation · smoke ·" in version.description
    assert {"data", "objective", "headline coherence"} <= set(version.tags)
    logged = client.get_logged_model(version.model_id or version.source.removeprefix("models:/"))
    assert any(m.key == "summary/coherence_text_to_image_test" for m in logged.metrics or [])
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
    images = np.asarray(model.predict(pd.DataFrame({"text": ["red three and blue seven"]})))
    assert images.shape == (1, 28, 56, 3) and images.dtype == np.uint8


def test_a_failed_node_marks_the_run_failed(smoke_evaluated_project, tmp_path):
    project = make_project_copy(tmp_path / "project")
    shutil.copytree(smoke_evaluated_project / "data/smoke", project / "data/smoke")
    (project / "data/smoke/06_models/image_judge.pt").write_bytes(b"not a checkpoint")
    result = run_kedro(
        project,
        "run",
        "--env",
        "smoke",
        "--pipelines=evaluation",
        "--nodes=judge_real_data",
        check=False,
    )
    assert result.returncode != 0
    runs = (
        mlflow.search_runs(experiment_names=["cemap"], output_format="list")
        if _client(project)
        else []
    )
    assert [r.info.status for r in runs] == ["FAILED"]


def test_same_seed_gives_identical_metrics(smoke_evaluated_project, tmp_path):
    project = make_project_copy(tmp_path / "project")
    # data_generation's own determinism is tested byte for byte; start from its outputs.
    for folder in ("02_intermediate", "03_primary", "04_feature"):
        shutil.copytree(
            smoke_evaluated_project / "data/smoke" / folder, project / "data/smoke" / folder
        )
    run_kedro(project, "run", "--env", "smoke", "--pipelines=embeddings,joint_latent,evaluation")
    assert _metrics(project) == _metrics(smoke_evaluated_project)


def test_unseen_voices_are_scored_in_the_directions_from_speech_only(smoke_evaluated_project):
    metrics = _metrics(smoke_evaluated_project)
    for target in ("image", "text"):
        assert 0 <= metrics[f"coherence/speech_to_{target}/unseen_voices/strict"] <= 1
    assert "retrieval/speech_to_image/unseen_voices/recall@1" in metrics
    assert not [name for name in metrics if "unseen_voices" in name and "speech_to" not in name]
