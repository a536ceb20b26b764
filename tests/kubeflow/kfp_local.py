"""Run a compiled KFP pipeline YAML here: each task's ``kedro run`` in its own Kedro session.

What Kubeflow does with one pod per task, minus the pods: tasks run one after another in
dependency order, and nothing survives from one task to the next but what the catalog
persisted (a new session builds a new catalog, so a MemoryDataset starts empty). One
process for all tasks keeps the test fast.

    cd <project> && python -m tests.kubeflow.kfp_local pipeline.yaml '<kedro_params>'
"""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
from kedro.framework.cli.cli import KedroCLI

from tests.kubeflow.kfp_yaml import PARAMS_PLACEHOLDER, load_compiled, topological


def main(pipeline_yaml: str, kedro_params: str) -> None:
    _, tasks = load_compiled(Path(pipeline_yaml))
    for task in topological(tasks):
        command = [arg.replace(PARAMS_PLACEHOLDER, kedro_params) for arg in task.command]
        assert command[:2] == ["kedro", "run"], command
        print(f"### task {task.display_name}: {' '.join(command)}", flush=True)
        KedroCLI(project_path=Path.cwd()).main(command[1:], standalone_mode=False)
        # A pod's MLflow run ends with the pod; kedro-mlflow leaves it active in the process.
        while mlflow.active_run():
            mlflow.end_run()


if __name__ == "__main__":
    main(*sys.argv[1:])
