"""Kedro settings for CEMap: config loading, MLflow location and telemetry."""

from __future__ import annotations

# First: its warning filters must be in place before the libraries below are imported.
import cemap.notices  # noqa: F401
from cemap.hooks import (
    FlatParametersHook,
    MissingInputsHook,
    MlflowRunHook,
    ModelVersionCardHook,
    ReleaseMemoryHook,
)
from cemap.run_checks import RunChecksHook
from cemap.tracking import project_tracking_uri

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # `--params embeddings.image.epochs=3` must change one key, not replace the whole dict.
    "merge_strategy": {"parameters": "soft"},
    "custom_resolvers": {
        "cemap.mlflow_tracking_uri": project_tracking_uri,
    },
}

# Fail before any node runs when an input another pipeline writes was never persisted;
# log typed parameters to MLflow one key each; make the MLflow run readable (name, description,
# summary metrics) and describe the model version it registered; return freed heap memory
# after each node. An unknown env or --params namespace stops the run before anything else
# reads them.
HOOKS = (
    MissingInputsHook(),
    FlatParametersHook(),
    MlflowRunHook(),
    ModelVersionCardHook(),
    ReleaseMemoryHook(),
    RunChecksHook(),
)
