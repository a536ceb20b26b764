"""Hostile inputs and faults, shared: one smoke project copy for every robustness test, file
hashes to prove nothing earlier changed, Kedro runs in-process, one check of a clean error."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner, Result

from tests.conftest import make_project_copy, run_kedro

#: One line of Kedro's rich traceback; a clean error shows none of them.
TRACEBACK_MARKERS = ("Traceback (most recent call last)", "─ Traceback ")


def tree_hashes(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder``."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def copy_smoke_project(source: Path, destination: Path) -> Path:
    """A fresh project copy holding ``source``'s data/smoke (its own, empty MLflow store)."""
    project = make_project_copy(destination)
    shutil.copytree(source / "data" / "smoke", project / "data" / "smoke")
    return project


@pytest.fixture(scope="session")
def robust_project(smoke_evaluated_project, tmp_path_factory) -> Path:
    """A copy of the evaluated smoke project that the robustness tests run Kedro in. Tests
    that damage a file put it back; the rest must leave every file as it was."""
    project = copy_smoke_project(smoke_evaluated_project, tmp_path_factory.mktemp("robust") / "p")
    # The shared smoke project's clip cache may hold clips other tests rendered with other
    # settings; the cache tests compare against exactly what this configuration renders.
    shutil.rmtree(project / "data" / "smoke" / "02_intermediate" / "tts_cache")
    run_kedro(project, "run", "--env", "smoke", "--pipelines=data_generation")
    return project


def kedro_run(project: Path, *args: str) -> Result:
    """``kedro run <args>`` (the project's command) in-process, in ``project``, logging to a
    store inside it; MLflow's global state (tracking URI, active run and experiment) is put
    back afterwards."""
    from kedro.framework.project import configure_project

    from cemap.cli import run

    configure_project("cemap")
    previous_uri = mlflow.get_tracking_uri()
    cwd = Path.cwd()
    with pytest.MonkeyPatch.context() as patch:
        # kedro-mlflow sets the active experiment (a module global and MLFLOW_EXPERIMENT_ID);
        # both come back on exit, so later tests start runs in their own stores.
        patch.setattr(
            mlflow.tracking.fluent,
            "_active_experiment_id",
            mlflow.tracking.fluent._active_experiment_id,
        )
        patch.setenv("MLFLOW_EXPERIMENT_ID", os.environ.get("MLFLOW_EXPERIMENT_ID", ""))
        if not os.environ["MLFLOW_EXPERIMENT_ID"]:
            patch.delenv("MLFLOW_EXPERIMENT_ID")
        patch.setenv("CEMAP_MLFLOW_TRACKING_URI", f"sqlite:///{project}/mlflow.db")
        patch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
        patch.delenv("KEDRO_ENV", raising=False)
        os.chdir(project)
        try:
            return CliRunner().invoke(run, list(args))
        finally:
            os.chdir(cwd)
            while mlflow.active_run():
                mlflow.end_run()
            mlflow.set_tracking_uri(previous_uri)


def assert_clean_error(result: Result, exit_code: int, *fragments: str) -> str:
    """Exit status ``exit_code``, the message holds every fragment, and no traceback."""
    output = result.output
    assert result.exit_code == exit_code, (result.exit_code, output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert not any(marker in output for marker in TRACEBACK_MARKERS), output
    assert "Error:" in output, output
    for fragment in fragments:
        assert fragment in output, (fragment, output)
    return output
