"""Kedro settings for CEMap: config loading, MLflow location and telemetry."""

from __future__ import annotations

import os
from pathlib import Path

from kedro.utils import find_kedro_project

from cemap.hooks import MissingInputsHook, ReleaseMemoryHook
from cemap.tracking import FlatParametersHook


def _project_root() -> str:
    """The project root, found from the working directory the way the kedro CLI finds it."""
    root = find_kedro_project(Path.cwd())
    return str((root or Path.cwd()).resolve())


def _mlflow_tracking_uri() -> str:
    """``$CEMAP_MLFLOW_TRACKING_URI`` if set (tests point it at a temporary store), else
    ``sqlite:///<project root>/mlflow.db`` whatever the working directory."""
    return os.environ.get("CEMAP_MLFLOW_TRACKING_URI") or f"sqlite:///{_project_root()}/mlflow.db"


CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # `--params embeddings.image.epochs=3` must change one key, not replace the whole dict.
    "merge_strategy": {"parameters": "soft"},
    "custom_resolvers": {
        "cemap.project_root": _project_root,
        "cemap.mlflow_tracking_uri": _mlflow_tracking_uri,
    },
}

# Fail before any node runs when an input another pipeline writes was never persisted;
# log typed parameters to MLflow one key each; return freed heap memory after each node.
HOOKS = (MissingInputsHook(), FlatParametersHook(), ReleaseMemoryHook())
