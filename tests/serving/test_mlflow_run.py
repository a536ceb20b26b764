"""How the MLflow run reads: its name, command, runner tag and configuration summary."""

from __future__ import annotations

from datetime import datetime, timezone

from kedro.runner import SequentialRunner

from cemap.hooks import (
    _numbers,
    _skip_model_reprs_in_kedro_mlflow,
    configuration_summary,
    kedro_command,
    run_name,
    runner_name,
)
from cemap.pipelines.joint_latent.params import JointLatentParams


def test_run_name_says_what_ran_where_and_when():
    started = datetime(2026, 12, 1, 15, 34, tzinfo=timezone.utc)
    assert run_name(["evaluation"], "smoke", started) == "evaluation · smoke · 2026-12-01 15:34"
    assert run_name(["a", "b"], "local", started).startswith("a+b · local · ")


def test_pipelines_are_named_in_one_order_whatever_order_kedro_gives():
    from cemap.hooks import _pipeline_names

    assert _pipeline_names({"pipeline_names": ["joint_latent", "embeddings"]}) == [
        "embeddings",
        "joint_latent",
    ]
    assert _pipeline_names({"pipeline_names": None}) == ["__default__"]


def test_kedro_command_repeats_the_run_with_its_env():
    params = {
        "pipeline_names": ["joint_latent"],
        "tags": ["training"],
        "runtime_params": {"joint_latent": {"model": {"objective": "mvae"}}},
    }
    assert kedro_command(params, "smoke") == (
        "kedro run --env=smoke --pipelines=joint_latent --tags=training "
        "--params=joint_latent.model.objective=mvae"
    )
    assert kedro_command({}, "local") == "kedro run --env=local"


def test_runner_tag_is_the_class_name():
    text = "<kedro.runner.sequential_runner.SequentialRunner object at 0x7f1346>"
    assert runner_name(text) == "SequentialRunner"
    assert runner_name(SequentialRunner()) == "SequentialRunner"
    assert runner_name("ParallelRunner") == "ParallelRunner"


def test_configuration_summary_reads_dicts_and_validated_models():
    parameters = {
        "data_generation": {"sizes": {"train": 10, "test": 2}, "digits": {"source": "idx"}},
        "joint_latent": JointLatentParams.model_validate({"model": {"objective": "mvae"}}),
    }
    summary = configuration_summary(parameters)
    assert summary.startswith("samples train 10 / test 2; digits idx; ")
    assert "objective mvae" in summary
    assert configuration_summary(parameters, "data_generation.") == (
        "samples train 10 / test 2; digits idx"
    )
    assert configuration_summary({}) == ""


def test_report_numbers_become_metric_names():
    report = {
        "probe/mean": 0.9,
        "modality": "image",
        "nested": {"recall@1": 1},
        "nan": float("nan"),
    }
    assert _numbers(report, "embeddings/image") == {
        "embeddings/image/probe/mean": 0.9,
        "embeddings/image/nested/recall_at_1": 1.0,
    }


def test_kedro_mlflow_leaves_parameter_models_to_the_flat_keys(monkeypatch):
    from kedro_mlflow.framework.hooks import mlflow_hook

    logged = []
    monkeypatch.setattr(mlflow_hook, "_log_param", lambda name, value: logged.append(name))
    _skip_model_reprs_in_kedro_mlflow()
    _skip_model_reprs_in_kedro_mlflow()  # idempotent
    mlflow_hook._log_param("joint_latent", JointLatentParams.model_validate({}))
    mlflow_hook._log_param("plain", 3)
    assert logged == ["plain"]


def test_run_info_dataset_holds_what_the_hook_saved():
    from cemap.datasets import RunInfoDataset

    dataset = RunInfoDataset()
    assert dataset.exists()
    assert dataset.load()["run id"] == "(not tracked)"  # no hook, no active run
    dataset.save({"run id": "abc", "environment": "smoke"})
    assert dataset.load() == {"run id": "abc", "environment": "smoke"}
