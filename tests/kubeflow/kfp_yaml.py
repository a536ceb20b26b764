"""Read back a compiled KFP v2 pipeline YAML: its tasks, their commands and dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

PARAMS_PLACEHOLDER = "{{$.inputs.parameters['kedro_params']}}"


@dataclass(frozen=True)
class CompiledTask:
    """One task of the root DAG, with its executor's container."""

    key: str
    display_name: str
    after: frozenset[str]
    image: str
    command: tuple[str, ...]
    accelerator: dict | None
    env: dict[str, str]
    caching: bool

    def option(self, flag: str) -> str | None:
        """The value of ``--flag=value`` in the command, if present."""
        prefix = f"{flag}="
        values = [arg[len(prefix) :] for arg in self.command if arg.startswith(prefix)]
        return values[0] if values else None


def load_compiled(path: Path) -> tuple[dict, dict[str, CompiledTask]]:
    """The whole spec and its tasks by KFP task key."""
    spec = yaml.safe_load(Path(path).read_text())
    executors = spec["deploymentSpec"]["executors"]
    tasks = {}
    for key, task in spec["root"]["dag"]["tasks"].items():
        component = spec["components"][task["componentRef"]["name"]]
        container = executors[component["executorLabel"]]["container"]
        tasks[key] = CompiledTask(
            key=key,
            display_name=task["taskInfo"]["name"],
            after=frozenset(task.get("dependentTasks", ())),
            image=container["image"],
            command=tuple(container["command"]) + tuple(container.get("args", ())),
            accelerator=container.get("resources", {}).get("accelerator"),
            env={item["name"]: item["value"] for item in container.get("env", ())},
            caching=bool(task.get("cachingOptions", {}).get("enableCache", False)),
        )
    return spec, tasks


def topological(tasks: dict[str, CompiledTask]) -> list[CompiledTask]:
    """The tasks in an order that respects every dependency, as KFP would schedule them."""
    done: list[CompiledTask] = []
    placed: set[str] = set()
    while len(done) < len(tasks):
        ready = [t for k, t in sorted(tasks.items()) if k not in placed and t.after <= placed]
        assert ready, "dependency cycle in the compiled pipeline"
        for task in ready:
            done.append(task)
            placed.add(task.key)
    return done
