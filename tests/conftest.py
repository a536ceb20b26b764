"""Shared test fixtures: a throwaway copy of the Kedro project to run pipelines in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models on a shared 2-core machine: more threads only spin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_project_copy(destination: Path) -> Path:
    """pyproject, conf and an empty data tree in ``destination``; code from the installed package."""
    destination.mkdir(parents=True, exist_ok=True)
    (destination / "src").mkdir()  # Kedro wants it; the code comes from the installed package
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(PROJECT_ROOT / name, destination / name)
    shutil.copytree(
        PROJECT_ROOT / "conf", destination / "conf", ignore=shutil.ignore_patterns("local")
    )
    (destination / "conf" / "local").mkdir()
    (destination / "data").mkdir()
    return destination


def run_kedro(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``kedro <args>`` in ``project``, logging MLflow to a store inside it (never the user's)."""
    env = {
        **os.environ,
        "CEMAP_MLFLOW_TRACKING_URI": f"sqlite:///{project}/mlflow.db",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"kedro {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


@pytest.fixture(scope="session")
def smoke_data_project(tmp_path_factory) -> Path:
    """A project copy on which ``kedro run --env smoke --pipelines=data_generation`` has run once."""
    project = make_project_copy(tmp_path_factory.mktemp("smoke") / "project")
    run_kedro(project, "run", "--env", "smoke", "--pipelines", "data_generation")
    return project


@pytest.fixture(scope="session")
def smoke_trained_project(smoke_data_project) -> Path:
    """``smoke_data_project`` after ``kedro run --env smoke --pipelines=embeddings,joint_latent``
    (data_generation has run there already): trained models under data/smoke/06_models."""
    run_kedro(smoke_data_project, "run", "--env", "smoke", "--pipelines=embeddings,joint_latent")
    return smoke_data_project


@pytest.fixture(scope="session")
def smoke_evaluated_project(smoke_trained_project) -> Path:
    """``smoke_trained_project`` after ``kedro run --env smoke --pipelines=evaluation``."""
    run_kedro(smoke_trained_project, "run", "--env", "smoke", "--pipelines=evaluation")
    return smoke_trained_project
