"""The `cloud` env: every dataset under the one data_root URL, MLflow from MLFLOW_TRACKING_URI,
and a compiled pipeline's task commands run one process each with only the bucket between them.

The same YAML run by the KFP engine itself, in containers: tests/kubeflow/test_rehearsal.py."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from kedro.framework.startup import bootstrap_project

from cemap.kubeflow.plan import is_parameter
from cemap.kubeflow.project import (
    compile_project_pipeline,
    dataset_location,
    is_persisted,
    load_env_catalog,
)
from tests.conftest import PROJECT_ROOT, make_project_copy
from tests.kubeflow.kfp_yaml import PARAMS_PLACEHOLDER, load_compiled, topological

pytest.importorskip("kfp")  # in the `test` extra, so this runs in CI

TINY = ",".join(
    [
        "data_generation.sizes.train=8",
        "data_generation.sizes.val=4",
        "data_generation.sizes.test=4",
        "data_generation.sizes.heldout_tuples=2",
        "data_generation.sizes.heldout_pairs=2",
        "data_generation.n_examples=2",
        "data_generation.speech.workers=1",
    ]
)


def _cloud_project(destination, data_root):
    """A project copy whose cloud env keeps its data at ``data_root``: its one setting."""
    project = make_project_copy(destination)
    (project / "conf/cloud/globals.yml").write_text(f"data_root: {data_root}\n")
    return project


@pytest.fixture(scope="module")
def registry():
    bootstrap_project(PROJECT_ROOT)
    from kedro.framework.project import pipelines

    return dict(pipelines)


def test_every_dataset_resolves_under_the_configured_url(registry, tmp_path):
    url = "memory://cemap-bucket/test-run"
    project = _cloud_project(tmp_path / "project", url)
    catalog, globals_ = load_env_catalog(project, "cloud")
    assert globals_["data_root"] == url

    default = registry["__default__"]
    datasets = {d for d in default.datasets() | set(catalog.keys()) if not is_parameter(d)}
    locations = {d: dataset_location(catalog, d) for d in datasets if is_persisted(catalog, d)}
    # Every dataset of every pipeline is persisted, so any node can run in any pod ...
    assert {d for d in default.datasets() if not is_parameter(d)} <= set(locations)
    # ... and lives under the one URL (MLflow-only datasets have no location of their own).
    misplaced = {d: loc for d, loc in locations.items() if loc and not loc.startswith(url + "/")}
    assert not misplaced
    assert dataset_location(catalog, "source_digits") == f"{url}/02_intermediate/source_digits.pkl"

    params = catalog.load("params:data_generation")
    assert not str(params.speech.cache_dir).startswith(url)  # the TTS cache is pod-local


def test_cloud_mlflow_reads_mlflow_tracking_uri():
    from kedro.framework.project import settings

    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(PROJECT_ROOT / "conf"), env="cloud", **settings.CONFIG_LOADER_ARGS
    )
    loader.config_patterns["mlflow"] = ["mlflow*", "mlflow*/**", "**/mlflow*"]
    mlflow_conf = loader["mlflow"]
    # null makes kedro-mlflow take $MLFLOW_TRACKING_URI; the rest comes from conf/base.
    assert mlflow_conf["server"]["mlflow_tracking_uri"] is None
    assert mlflow_conf["tracking"]["experiment"]["name"] == "cemap"


@pytest.mark.e2e
def test_compiled_tasks_run_one_process_each_against_the_bucket(registry, tmp_path, monkeypatch):
    bucket = tmp_path / "bucket"
    project = _cloud_project(tmp_path / "project", f"file://{bucket}")
    # The pods' TTS cache is /tmp/cemap/tts_cache; keep this test's inside tmp_path.
    params = f"{TINY},data_generation.speech.cache_dir={tmp_path / 'tts_cache'}"
    compiled = compile_project_pipeline(
        project,
        pipeline_names=["data_generation"],
        image="unused",
        output=tmp_path / "pipeline.yaml",
        params=params,
    )
    _, tasks = load_compiled(compiled.output)
    mlruns = tmp_path / "mlruns"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
        ),
        "KEDRO_DISABLE_TELEMETRY": "true",
        "COLUMNS": "250",  # one log record per line
        # A throwaway store; MLflow 3 builds a file store in a fraction of a sqlite one's time.
        "MLFLOW_TRACKING_URI": mlruns.as_uri(),
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "CEMAP_MLFLOW_TRACKING_URI": mlruns.as_uri(),
    }
    # Each task's command in a process of its own, in an order KFP could schedule them: a
    # fresh Kedro session per task, so a MemoryDataset starts empty as it would in a pod.
    outputs = []
    for task in topological(tasks):
        command = [arg.replace(PARAMS_PLACEHOLDER, params) for arg in task.command]
        assert command[:2] == ["kedro", "run"], command
        result = subprocess.run(
            [sys.executable, "-m", *command],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, f"{task.display_name}:\n{outputs[-1][-6000:]}"
    output = "\n".join(outputs)
    assert len(outputs) == len(tasks) == 5
    # plan_dataset ran in a session of its own: it could only get the digits from the bucket.
    assert "Loading data from source_digits (PickleDataset)" in output

    metadata = pd.read_parquet(bucket / "03_primary/metadata.parquet")
    assert len(metadata) == 20
    assert np.load(bucket / "03_primary/images.npy").shape == (20, 28, 56, 3)
    assert np.load(bucket / "04_feature/speech_features.npy").shape[0] == 20
    assert (bucket / "02_intermediate/source_digits.pkl").is_file()
    assert len(list((bucket / "08_reporting/examples/images").glob("*.png"))) == 2
    assert not [p for p in (project / "data").rglob("*") if p.is_file()]  # nothing local
    assert list((tmp_path / "tts_cache").rglob("*.wav"))

    # One MLflow run per task (kedro-mlflow tags it with the node), where MLFLOW_TRACKING_URI said.
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.MlflowClient(tracking_uri=mlruns.as_uri())
    experiment = client.get_experiment_by_name("cemap")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["node_names"] for r in runs) == sorted(
        str((task.option("--nodes"),)) for task in tasks.values()
    )
    assert {r.data.tags["env"] for r in runs} == {"cloud"}
