"""MLflow parameters one key each, also for the typed (pydantic) parameter schemas.

kedro-mlflow flattens dict parameters, but Kedro hands nodes validated pydantic models, which
kedro-mlflow logs as one long string. This hook logs their fields flattened
(``embeddings.image.training.epochs``) so runs can be compared and filtered per key.
"""

from __future__ import annotations

from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from pydantic import BaseModel


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` under ``p`` -> ``{"p.a.b": 1}``; lists stay whole."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}"))
        return flat
    return {prefix: value}


class FlatParametersHook:
    """Logs each typed ``params:`` input of a node, flattened, into the active MLflow run."""

    def __init__(self) -> None:
        self._logged: set[tuple[str, str]] = set()

    @hook_impl
    def before_node_run(self, node, inputs: dict[str, Any]) -> None:
        run = mlflow.active_run()
        if run is None:
            return
        for name, value in inputs.items():
            if not name.startswith("params:") or not isinstance(value, BaseModel):
                continue
            if (run.info.run_id, name) in self._logged:
                continue
            params = flatten(value, name.removeprefix("params:"))
            mlflow.log_params({key: str(item)[:6000] for key, item in params.items()})
            self._logged.add((run.info.run_id, name))
