"""Kubeflow Pipelines (KFP v2) YAML from planned Kedro steps: one container task per step.

``kfp`` is imported only when compiling, so the project needs it only for this
(``pip install 'cemap[kubeflow]'``).
"""

# kfp reads the component function's annotations at runtime: no `from __future__ import annotations`.
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cemap.kubeflow.plan import KedroStep, kedro_run_command, step_dependencies

KEDRO_PARAMS_INPUT = "kedro_params"
"""Pipeline input holding ``kedro run --params``; its default is set at compile time."""

_KFP_MISSING = (
    "Compiling for Kubeflow needs the Kubeflow Pipelines SDK (kfp 2.x), which is not installed. "
    "Install it with: pip install -e '.[kubeflow]'  (or pip install 'kfp>=2.17,<3')."
)


@dataclass(frozen=True)
class KfpOptions:
    """How every task of the compiled pipeline runs.

    ``accelerator_type``/``accelerator_count`` apply to steps marked ``gpu``; ``env_vars`` are
    set in every task's container (no secrets: they are written into the YAML in clear).
    """

    image: str
    kedro_env: str
    pipeline_name: str
    kedro_params: str = ""
    description: str = ""
    accelerator_type: str = "nvidia.com/gpu"
    accelerator_count: int = 1
    env_vars: Mapping[str, str] = field(default_factory=dict)
    enable_caching: bool = False
    pipelines: Sequence[str] = ()


def kfp_pipeline_name(name: str) -> str:
    """A KFP pipeline name (lower-case letters, digits, dashes) from free text."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not cleaned:
        raise ValueError(f"Pipeline name {name!r} has no letter or digit to build a KFP name from.")
    return cleaned[:128]


def _import_kfp():
    try:
        from kfp import compiler, dsl
    except ImportError as exc:
        raise ImportError(_KFP_MISSING) from exc
    return compiler, dsl


def _container_component(dsl, step: KedroStep, options: KfpOptions):
    command = kedro_run_command(step, options.kedro_env, options.pipelines)
    image = options.image

    def kedro_step(kedro_params: str):
        return dsl.ContainerSpec(image=image, command=[*command, "--params", kedro_params])

    # kfp names the component (and the default task name) after the function.
    kedro_step.__name__ = kfp_pipeline_name(f"kedro-{step.name}")
    return dsl.container_component(kedro_step)


def compile_kfp_pipeline(
    steps: Sequence[KedroStep], options: KfpOptions, output_path: str | Path
) -> Path:
    """Write the KFP v2 pipeline YAML for ``steps`` to ``output_path``.

    Each task runs ``kedro run`` for its step in ``options.image`` and starts after the steps
    writing a dataset it reads. Caching is off unless asked for: a task has no KFP inputs
    that change when its data does, so a cached task would silently skip real work.
    """
    compiler, dsl = _import_kfp()
    components = {step.name: _container_component(dsl, step, options) for step in steps}
    parents = step_dependencies(steps)

    def kedro_pipeline(kedro_params: str = ""):
        tasks = {}
        for step in steps:
            task = components[step.name](kedro_params=kedro_params)
            task.set_display_name(step.name)
            task.set_caching_options(options.enable_caching)
            for parent in parents[step.name]:
                task.after(tasks[parent])
            if step.gpu:
                task.set_accelerator_type(options.accelerator_type)
                task.set_accelerator_limit(options.accelerator_count)
            for name, value in options.env_vars.items():
                task.set_env_variable(name, value)
            tasks[step.name] = task

    pipeline_func = dsl.pipeline(
        name=kfp_pipeline_name(options.pipeline_name), description=options.description or None
    )(kedro_pipeline)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(
        pipeline_func,
        package_path=str(output_path),
        pipeline_parameters={KEDRO_PARAMS_INPUT: options.kedro_params},
    )
    return output_path
