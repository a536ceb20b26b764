"""kedro-mlflow's ``MlflowArtifactDataset``, also for datasets stored at a remote URL.

kedro-mlflow saves the wrapped dataset, then calls ``mlflow.log_artifact`` on its path, which
must be a local file: with ``filepath: s3://bucket/...`` (the ``cloud`` env) that path does
not exist here and the save fails with ``FileNotFoundError``. This wrapper keeps
kedro-mlflow's behaviour for local paths, and for a remote one saves the dataset there, then
logs a temporary local copy read back from it (the same file or folder name, so the MLflow
artifact is the one a local run logs).

    my_figure:
      type: cemap.mlflow_artifacts.MlflowArtifactDataset
      artifact_path: figures
      dataset: {type: matplotlib.MatplotlibDataset, filepath: "${globals:data_root}/x.png"}
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import mlflow
from kedro_mlflow.io.artifacts import MlflowArtifactDataset as _KedroMlflowArtifactDataset
from mlflow.tracking import MlflowClient

_LOCAL_PROTOCOLS = {None, "", "file", "local"}


def _storage(dataset: Any) -> tuple[Any, str, str | None]:
    """The fsspec filesystem, the path on it, and the protocol of a wrapped dataset."""
    if hasattr(dataset, "_filesystem") and hasattr(dataset, "_normalized_path"):  # Partitioned
        return dataset._filesystem, dataset._normalized_path, dataset._protocol
    if hasattr(dataset, "_version") and dataset._version is not None:
        path = dataset._get_save_path()
    else:
        path = dataset._filepath
    return (
        getattr(dataset, "_fs", None),
        str(PurePosixPath(path)),
        getattr(dataset, "_protocol", None),
    )


class MlflowArtifactDataset(_KedroMlflowArtifactDataset):
    """``kedro_mlflow.io.artifacts.MlflowArtifactDataset`` that also logs remote datasets."""

    def __new__(
        cls,
        dataset: str | dict,
        run_id: str | None = None,
        artifact_path: str | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        instance = _KedroMlflowArtifactDataset.__new__(
            _KedroMlflowArtifactDataset, dataset, run_id, artifact_path, credentials, metadata
        )
        _, _, protocol = _storage(instance)
        if protocol in _LOCAL_PROTOCOLS:
            return instance
        instance.__class__ = _remote_class(type(instance))
        return instance


_REMOTE_CLASSES: dict[type, type] = {}


def _remote_class(mlflow_class: type) -> type:
    """A subclass of kedro-mlflow's class for one dataset type, logging a local copy.

    It keeps that class's name (``Mlflow<Dataset>``): kedro-mlflow switches logging on and off
    for catalog entries whose type name starts with ``Mlflow``.
    """
    if mlflow_class in _REMOTE_CLASSES:
        return _REMOTE_CLASSES[mlflow_class]

    def _save(self, data: Any) -> None:
        logging = self._logging_activated
        self._logging_activated = False  # kedro-mlflow would log a path that is not local
        try:
            mlflow_class._save(self, data)
        finally:
            self._logging_activated = logging
        if not logging:
            return
        filesystem, path, _ = _storage(self)
        with tempfile.TemporaryDirectory(prefix="cemap-artifact-") as tmp:
            local = Path(tmp) / PurePosixPath(path).name
            if filesystem.isdir(path):
                filesystem.get(path.rstrip("/") + "/", str(local), recursive=True)
            else:
                filesystem.get(path, str(local))
            if self.run_id:
                MlflowClient().log_artifact(self.run_id, str(local), self.artifact_path)
            else:
                mlflow.log_artifact(str(local), self.artifact_path)

    remote = type(mlflow_class.__name__, (mlflow_class,), {"_save": _save})
    remote.__qualname__ = mlflow_class.__qualname__
    _REMOTE_CLASSES[mlflow_class] = remote
    return remote
