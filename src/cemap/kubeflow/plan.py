"""A Kedro pipeline as steps for an orchestrator that runs each step in its own pod.

Pure graph logic on anything with Kedro's ``Pipeline``/``Node`` interface (``.nodes``;
``.name``, ``.inputs``, ``.outputs``, ``.tags``): no Kedro or kfp import, so it can be read
and tested on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

GroupBy = Literal["node", "pipeline"]
GROUP_BY_CHOICES: tuple[GroupBy, ...] = ("node", "pipeline")


@dataclass(frozen=True)
class KedroStep:
    """What one container runs: ``kedro run`` restricted to ``nodes``.

    ``inputs`` are the datasets the step reads from outside itself (parameters excluded);
    ``outputs`` are all the datasets its nodes write.
    """

    name: str
    selector: tuple[str, ...]
    nodes: tuple[str, ...]
    inputs: frozenset[str]
    outputs: frozenset[str]
    tags: frozenset[str]
    gpu: bool = False


@dataclass(frozen=True)
class MemoryHandoff:
    """A dataset a step reads that the catalog would hold in memory, so no other pod can fill it."""

    dataset: str
    consumers: tuple[str, ...]
    producers: tuple[str, ...]

    def describe(self) -> str:
        written = (
            f"written by {', '.join(self.producers)}"
            if self.producers
            else "written by no step of this pipeline"
        )
        return f"{self.dataset} ({written}; read by {', '.join(self.consumers)})"


class MemoryHandoffError(ValueError):
    """Steps in separate pods would hand datasets over through memory."""

    def __init__(self, handoffs: Sequence[MemoryHandoff], env: str) -> None:
        self.handoffs = tuple(handoffs)
        self.env = env
        listing = "\n".join(f"  - {h.describe()}" for h in self.handoffs)
        example = self.handoffs[0].dataset
        super().__init__(
            f"Kubeflow runs every step in its own pod, so each dataset a step reads from another "
            f"step must be persisted in the catalog of the Kedro env '{env}'. "
            f"{len(self.handoffs)} would be a MemoryDataset:\n{listing}\n"
            f"Add a catalog entry for each to conf/{env}/catalog_<pipeline>.yml, e.g.\n"
            f"  {example}:\n"
            f"    type: pickle.PickleDataset\n"
            f"    filepath: ${{globals:data_root}}/02_intermediate/{example}.pkl\n"
            f"or compile with an env whose catalog persists them (--env cloud)."
        )


def is_parameter(dataset: str) -> bool:
    """``parameters`` and ``params:...`` inputs come from the config in every pod."""
    return dataset == "parameters" or dataset.startswith("params:")


def _base_name(dataset: str) -> str:
    # `table@pandas` and `table@spark` are one dataset seen through two loaders.
    return dataset.split("@", 1)[0]


def _make_step(name: str, selector: tuple[str, ...], nodes: Iterable[Any]) -> KedroStep:
    nodes = list(nodes)
    outputs = {out for node in nodes for out in node.outputs}
    produced = {_base_name(out) for out in outputs}
    inputs = {
        dataset
        for node in nodes
        for dataset in node.inputs
        if not is_parameter(dataset) and _base_name(dataset) not in produced
    }
    return KedroStep(
        name=name,
        selector=selector,
        nodes=tuple(node.name for node in nodes),
        inputs=frozenset(inputs),
        outputs=frozenset(outputs),
        tags=frozenset(tag for node in nodes for tag in node.tags),
    )


def node_steps(pipeline: Any) -> list[KedroStep]:
    """One step per node, in Kedro's topological order: ``kedro run --nodes=<node>``."""
    return [_make_step(node.name, ("--nodes", node.name), [node]) for node in pipeline.nodes]


def pipeline_steps(groups: Mapping[str, Any]) -> list[KedroStep]:
    """One step per registered pipeline, ``kedro run --pipelines=<name>``, ordered by data flow.

    Raises ``ValueError`` when two pipelines share a node or depend on each other both ways.
    """
    owner: dict[str, str] = {}
    for group, pipeline in groups.items():
        for node in pipeline.nodes:
            if node.name in owner:
                raise ValueError(
                    f"Node '{node.name}' is in both pipelines '{owner[node.name]}' and '{group}', "
                    f"so --group-by pipeline would run it twice. Compile with --group-by node, "
                    f"or select pipelines that do not overlap."
                )
            owner[node.name] = group
    steps = [
        _make_step(group, ("--pipelines", group), pipeline.nodes)
        for group, pipeline in groups.items()
    ]
    return _topological(steps)


def _topological(steps: list[KedroStep]) -> list[KedroStep]:
    parents = step_dependencies(steps)
    ordered: list[KedroStep] = []
    placed: set[str] = set()
    remaining = list(steps)
    while remaining:
        ready = [step for step in remaining if set(parents[step.name]) <= placed]
        if not ready:
            names = ", ".join(step.name for step in remaining)
            raise ValueError(
                f"The steps {names} read each other's outputs in a cycle, so no order runs "
                f"them one pod after another. Compile with --group-by node."
            )
        for step in ready:
            ordered.append(step)
            placed.add(step.name)
            remaining.remove(step)
    return ordered


def step_dependencies(steps: Sequence[KedroStep]) -> dict[str, tuple[str, ...]]:
    """For each step, the steps it must run after: those writing a dataset it reads.

    With one step per node this is exactly Kedro's ``Pipeline.node_dependencies``.
    """
    producers: dict[str, list[str]] = {}
    for step in steps:
        for dataset in step.outputs:
            producers.setdefault(_base_name(dataset), []).append(step.name)
    return {
        step.name: tuple(
            sorted(
                {
                    producer
                    for dataset in step.inputs
                    for producer in producers.get(_base_name(dataset), ())
                    if producer != step.name
                }
            )
        )
        for step in steps
    }


def mark_gpu_steps(
    steps: Sequence[KedroStep], selectors: Iterable[str]
) -> tuple[list[KedroStep], set[str]]:
    """Flag the steps holding a node named, or tagged, by one of ``selectors``.

    Returns the flagged steps and the selectors that matched no node name or tag.
    """
    selectors = {s for s in selectors if s}
    marked, used = [], set()
    for step in steps:
        hits = selectors & (set(step.nodes) | step.tags | {step.name})
        used |= hits
        marked.append(replace(step, gpu=bool(hits)))
    return marked, selectors - used


def find_memory_handoffs(
    steps: Sequence[KedroStep], is_persisted: Callable[[str], bool]
) -> list[MemoryHandoff]:
    """Every step input that ``is_persisted`` says would live only in a pod's memory.

    An input no step writes counts too: a fresh pod would find its MemoryDataset empty.
    """
    producers: dict[str, list[str]] = {}
    for step in steps:
        for dataset in step.outputs:
            producers.setdefault(_base_name(dataset), []).append(step.name)
    consumers: dict[str, list[str]] = {}
    for step in steps:
        for dataset in step.inputs:
            if not is_persisted(dataset):
                consumers.setdefault(dataset, []).append(step.name)
    return [
        MemoryHandoff(
            dataset=dataset,
            consumers=tuple(readers),
            producers=tuple(producers.get(_base_name(dataset), ())),
        )
        for dataset, readers in sorted(consumers.items())
    ]


def kedro_run_command(step: KedroStep, env: str, pipelines: Sequence[str] = ()) -> list[str]:
    """``kedro run`` for one step, ``--params`` excluded (the compiler adds it as a KFP input).

    ``pipelines``, for one-node steps, names the registered pipelines the node is taken from,
    so the pod runs it from the pipeline that was compiled and MLflow names the run after it.
    """
    command = ["kedro", "run"]
    if pipelines and step.selector[0] == "--nodes":
        command.append(f"--pipelines={','.join(pipelines)}")
    flag, value = step.selector
    command += [f"{flag}={value}", f"--env={env}"]
    return command
