"""Where the project's MLflow store is, and how values become MLflow keys — one answer each.

``kedro run`` (through ``conf/base/mlflow.yml``), ``cemap generate --model`` and notebooks all
ask :func:`project_tracking_uri`. Nothing here imports Kedro.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

#: Set it to log somewhere else (the tests point it at a temporary store).
TRACKING_URI_VARIABLE = "CEMAP_MLFLOW_TRACKING_URI"


def find_project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The Kedro project holding ``start`` (default: the working directory): the nearest folder
    upwards whose ``pyproject.toml`` has a ``[tool.kedro]`` table; ``start`` itself if none."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.kedro]" in pyproject.read_text(errors="replace"):
            return folder
    return here


def project_tracking_uri(project_path: str | os.PathLike[str] | None = None) -> str:
    """``$CEMAP_MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<project root>/mlflow.db``
    (the project found from ``project_path``, default the working directory)."""
    return (
        os.environ.get(TRACKING_URI_VARIABLE)
        or f"sqlite:///{find_project_root(project_path)}/mlflow.db"
    )


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` under ``p`` -> ``{"p.a.b": 1}``; pydantic models as their fields,
    lists stay whole."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}"))
        return flat
    return {prefix: value}


def mlflow_metric_name(name: str) -> str:
    """A metric name MLflow accepts: it forbids '@', so ``recall@10`` becomes ``recall_at_10``."""
    return name.replace("@", "_at_")
