"""The Kedro side of ``kedro kfp compile``: registered pipelines and an env's catalog in, YAML out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A bare hook manager: the catalog without plugins (see load_env_catalog).
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.framework.project import pipelines as registered_pipelines
from kedro.framework.project import settings
from kedro.io import DataCatalog

from cemap.kubeflow.compiler import KfpOptions, compile_kfp_pipeline
from cemap.kubeflow.plan import (
    GroupBy,
    KedroStep,
    MemoryHandoffError,
    find_memory_handoffs,
    mark_gpu_steps,
    node_steps,
    pipeline_steps,
    step_dependencies,
)

DEFAULT_PIPELINE = "__default__"
_IN_MEMORY_TYPES = ("MemoryDataset", "SharedMemoryDataset")


@dataclass(frozen=True)
class CompiledPipeline:
    """What ``compile_project_pipeline`` wrote, for the CLI to report."""

    output: Path
    steps: tuple[KedroStep, ...]
    dependencies: Mapping[str, tuple[str, ...]]
    data_root: str | None
    local_datasets: tuple[str, ...] = field(default=())
    unmatched_gpu_selectors: tuple[str, ...] = field(default=())


def select_pipelines(names: Sequence[str], group_by: GroupBy) -> tuple[Any, dict[str, Any]]:
    """The union of the named registered pipelines, and the pipelines themselves.

    With ``group_by='pipeline'``, ``__default__`` stands for the registered pipelines it is made
    of (every one but the opt-in objective comparison), so each becomes one step.
    """
    available = dict(registered_pipelines)
    names = list(dict.fromkeys(names or [DEFAULT_PIPELINE]))
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(
            f"Unknown pipeline(s) {', '.join(unknown)}; registered: {', '.join(sorted(available))}."
        )
    if group_by == "pipeline" and DEFAULT_PIPELINE in names:
        default_nodes = set(available[DEFAULT_PIPELINE].nodes)
        expanded = [
            name
            for name, pipeline in available.items()
            if name != DEFAULT_PIPELINE and set(pipeline.nodes) <= default_nodes
        ]
        names = list(dict.fromkeys([n for n in names if n != DEFAULT_PIPELINE] + expanded))
    groups = {name: available[name] for name in names}
    return sum(groups.values()), groups


def load_env_catalog(
    project_path: Path, env: str, runtime_params: Mapping[str, Any] | None = None
) -> tuple[DataCatalog, dict[str, Any]]:
    """The catalog ``kedro run --env <env> --params ...`` builds, and the env's globals.

    Built by a Kedro context with no plugin hooks: a session would run kedro-mlflow's
    ``after_context_created``, which connects to the tracking server, and compiling must
    work offline. Typed parameters are validated as in a run, so bad ``--params`` fail here.
    """
    project_path = Path(project_path).resolve()
    conf_source = project_path / settings.CONF_SOURCE
    if not (conf_source / env).is_dir():
        raise ValueError(
            f"Kedro env '{env}' has no folder {conf_source / env}; choose an existing env "
            f"({', '.join(sorted(p.name for p in conf_source.iterdir() if p.is_dir()))})."
        )
    config_loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(conf_source),
        env=env,
        runtime_params=dict(runtime_params or {}),
        **settings.CONFIG_LOADER_ARGS,
    )
    context = settings.CONTEXT_CLASS(
        package_name=__name__.split(".", 1)[0],
        project_path=project_path,
        config_loader=config_loader,
        hook_manager=_create_hook_manager(),
        env=env,
        runtime_params=dict(runtime_params or {}),
    )
    return context.catalog, dict(config_loader["globals"])


def is_persisted(catalog: DataCatalog, dataset: str) -> bool:
    """Whether ``dataset`` outlives the process: in the catalog and not an in-memory type."""
    dataset_type = catalog.get_type(dataset)
    return dataset_type is not None and dataset_type.rsplit(".", 1)[-1] not in _IN_MEMORY_TYPES


def dataset_location(catalog: DataCatalog, dataset: str) -> str | None:
    """The ``filepath`` (or ``path``) the catalog resolves ``dataset`` to, if it has one.

    Wrappers (``PartitionedDataset``'s ``path`` aside) keep it in their inner ``dataset``.
    """
    config = catalog.config_resolver.resolve_pattern(dataset)
    while isinstance(config, dict):
        location = config.get("filepath") or config.get("path")
        if location is not None:
            return str(location)
        config = config.get("dataset")
    return None


def local_only_datasets(catalog: DataCatalog, datasets: Iterable[str]) -> list[str]:
    """Datasets stored at a plain path, which pods see only on a volume they all mount."""
    local = []
    for dataset in sorted(set(datasets)):
        location = dataset_location(catalog, dataset) if is_persisted(catalog, dataset) else None
        if location is not None and "://" not in location:
            local.append(dataset)
    return local


def compile_project_pipeline(
    project_path: Path,
    *,
    pipeline_names: Sequence[str],
    image: str,
    output: Path,
    env: str = "cloud",
    group_by: GroupBy = "node",
    gpu_selectors: Iterable[str] = ("training",),
    require_gpu_match: bool = False,
    params: str = "",
    runtime_params: Mapping[str, Any] | None = None,
    pipeline_name: str | None = None,
    accelerator_type: str = "nvidia.com/gpu",
    accelerator_count: int = 1,
    env_vars: Mapping[str, str] | None = None,
    enable_caching: bool = False,
) -> CompiledPipeline:
    """Check that every hand-off between steps is persisted in ``env``, then write the YAML.

    ``require_gpu_match`` (explicit ``--gpu-nodes``) makes selectors matching nothing an error,
    and reports those matching nothing when others do. ``params`` is the ``--params`` string every task passes to ``kedro run`` (and the
    default of the KFP pipeline's ``kedro_params`` input); ``runtime_params`` is its parsed
    form, used to build the catalog the tasks will see. Raises ``MemoryHandoffError`` naming
    every dataset that would be a MemoryDataset in a pod.
    """
    names = list(dict.fromkeys(pipeline_names or [DEFAULT_PIPELINE]))
    pipeline, groups = select_pipelines(names, group_by)
    steps = node_steps(pipeline) if group_by == "node" else pipeline_steps(groups)
    steps, unmatched = mark_gpu_steps(steps, gpu_selectors)
    # One --gpu-nodes list may serve several pipelines; matching none of it is a mistake.
    if unmatched and require_gpu_match and not any(step.gpu for step in steps):
        tags = sorted({tag for step in steps for tag in step.tags})
        raise ValueError(
            f"--gpu-nodes {', '.join(sorted(unmatched))} matches no node name or tag of the "
            f"compiled pipeline (tags: {', '.join(tags) or 'none'})."
        )

    catalog, globals_ = load_env_catalog(project_path, env, runtime_params)
    handoffs = find_memory_handoffs(steps, lambda dataset: is_persisted(catalog, dataset))
    if handoffs:
        raise MemoryHandoffError(handoffs, env)
    crossing = {dataset for step in steps for dataset in step.inputs}
    local = local_only_datasets(catalog, crossing)

    selection = "-".join(n for n in names if n != DEFAULT_PIPELINE)
    options = KfpOptions(
        image=image,
        kedro_env=env,
        pipeline_name=pipeline_name or f"cemap-{selection}".rstrip("-"),
        kedro_params=params,
        description=f"Kedro pipelines {', '.join(names)} of CEMap, env {env}, one task per {group_by}.",
        accelerator_type=accelerator_type,
        accelerator_count=accelerator_count,
        env_vars=dict(env_vars or {}),
        enable_caching=enable_caching,
        pipelines=tuple(names) if group_by == "node" else (),
    )
    written = compile_kfp_pipeline(steps, options, output)
    return CompiledPipeline(
        output=written,
        steps=tuple(steps),
        dependencies=step_dependencies(steps),
        data_root=globals_.get("data_root"),
        local_datasets=tuple(local),
        unmatched_gpu_selectors=tuple(sorted(unmatched)) if require_gpu_match else (),
    )
