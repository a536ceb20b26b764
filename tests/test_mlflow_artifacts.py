"""cemap.mlflow_artifacts.MlflowArtifactDataset: kedro-mlflow's wrapper, also at remote URLs."""

import uuid

import fsspec
import mlflow
import pytest

from cemap.mlflow_artifacts import MlflowArtifactDataset


@pytest.fixture()
def mlflow_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    with mlflow.start_run() as run:
        yield run
    mlflow.set_tracking_uri(None)


def _artifacts(run_id, path=None):
    client = mlflow.MlflowClient()
    files = []
    for item in client.list_artifacts(run_id, path):
        files += _artifacts(run_id, item.path) if item.is_dir else [item.path]
    return sorted(files)


def test_remote_file_and_folder_are_saved_there_and_logged_as_locally(mlflow_run):
    root = f"memory:///cemap-{uuid.uuid4().hex[:8]}"  # kedro reads memory://x/ as host x
    text = MlflowArtifactDataset(
        dataset={"type": "text.TextDataset", "filepath": f"{root}/08_reporting/report.md"},
        artifact_path="reports",
    )
    parts = MlflowArtifactDataset(
        dataset={
            "type": "partitions.PartitionedDataset",
            "path": f"{root}/08_reporting/examples",
            "dataset": "text.TextDataset",
            "filename_suffix": ".txt",
        },
        artifact_path="audio",
    )
    # kedro-mlflow switches logging by the type name; the class stays its `Mlflow<Dataset>`
    assert type(text).__name__ == "MlflowTextDataset"
    text.save("# report")
    parts.save({"a": "1", "b": "2"})

    fs = fsspec.filesystem("memory")
    assert fs.cat(f"{root}/08_reporting/report.md") == b"# report"
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.find(f"{root}/08_reporting/examples")) == [
        "a.txt",
        "b.txt",
    ]
    assert _artifacts(mlflow_run.info.run_id) == [
        "audio/examples/a.txt",
        "audio/examples/b.txt",
        "reports/report.md",
    ]
    assert text.load() == "# report"


def test_logging_switched_off_saves_without_logging(mlflow_run):
    dataset = MlflowArtifactDataset(
        dataset={"type": "text.TextDataset", "filepath": f"memory:///off-{uuid.uuid4().hex}/x.md"}
    )
    dataset._logging_activated = False
    dataset.save("x")
    assert dataset.load() == "x"
    assert _artifacts(mlflow_run.info.run_id) == []


def test_local_paths_get_kedro_mlflows_own_class(tmp_path, mlflow_run):
    dataset = MlflowArtifactDataset(
        dataset={"type": "text.TextDataset", "filepath": str(tmp_path / "local.md")}
    )
    assert type(dataset).__mro__[1].__name__ == "TextDataset"  # kedro-mlflow's, unchanged
    dataset.save("local")
    assert _artifacts(mlflow_run.info.run_id) == ["local.md"]
