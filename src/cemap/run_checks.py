"""Checks of how a run was asked for, before anything runs: the env, the pipelines and the
top-level ``--params`` namespaces. Each mistake raises a ``UserInputError`` that names the bad
value, the valid ones and the nearest match.

``kedro run`` (the project's command, :mod:`cemap.cli`) calls them before it opens a session;
``RunChecksHook`` calls them again for runs started from Python (``KedroSession``), first
among the hooks, so an unknown env is reported before kedro-mlflow reads its configuration.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from cemap.errors import UserInputError


class UnknownEnvError(UserInputError):
    """``--env`` names no folder of the project's ``conf/``."""


class UnknownPipelineError(UserInputError):
    """``--pipelines`` names a pipeline the project does not register."""


class UnknownParametersError(UserInputError):
    """A ``--params`` key starts with a namespace no configuration or pipeline uses."""


def _nearest(name: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f" Did you mean {match[0]!r}?" if match else ""


def conf_envs(conf_source: str | os.PathLike[str]) -> list[str]:
    """The envs (sub-folders) of a local ``conf`` folder, sorted."""
    return sorted(p.name for p in Path(conf_source).iterdir() if p.is_dir())


def check_env(env: str | None, conf_source: str | os.PathLike[str] | None) -> None:
    """``env`` (``None``: the default) must be a folder of ``conf_source``; packed or remote
    configuration (a ``.tar.gz``, ``s3://``) is left to Kedro."""
    if not env or conf_source is None or not Path(conf_source).is_dir():
        return
    if (Path(conf_source) / env).is_dir():
        return
    envs = conf_envs(conf_source)
    raise UnknownEnvError(
        f"There is no Kedro env {env!r}: {Path(conf_source)} holds the envs "
        f"{', '.join(envs)}.{_nearest(env, envs)} Pass one of them to --env (or KEDRO_ENV), "
        f"or create the folder {Path(conf_source) / env} for a new env."
    )


def check_pipelines(names: Iterable[str], registered: Iterable[str]) -> None:
    """Every name in ``names`` must be a registered pipeline."""
    registered = sorted(registered)
    unknown = [name for name in names if name not in registered]
    if not unknown:
        return
    hints = "".join(_nearest(name, registered) for name in unknown)
    raise UnknownPipelineError(
        f"No registered pipeline {', '.join(map(repr, unknown))}. The project registers "
        f"{', '.join(registered)}.{hints} Give those names to --pipelines, comma-separated "
        "(`kedro registry list` lists them too)."
    )


def pipeline_namespaces(pipelines: Iterable[Any]) -> set[str]:
    """The top-level parameter names the nodes of ``pipelines`` read (``params:x.y`` -> x)."""
    names = set()
    for pipeline in pipelines:
        for dataset in pipeline.inputs():
            if dataset.startswith("params:"):
                names.add(dataset.removeprefix("params:").split(".", 1)[0])
    return names


def check_runtime_params(runtime_params: Mapping[str, Any] | None, known: Iterable[str]) -> None:
    """Every top-level key of ``runtime_params`` (``--params``) must be a known namespace.

    Keys below the top level are checked by each pipeline's typed schema; a misspelt top
    level would otherwise add a new, unread parameter and change nothing.
    """
    known = sorted(set(known))
    unknown = [key for key in runtime_params or {} if key not in known]
    if not unknown:
        return
    parts = [f"{key!r}.{_nearest(key, known)}" for key in unknown]
    raise UnknownParametersError(
        f"Unknown parameter namespace in --params: {' '.join(parts)} The parameters start with "
        f"{', '.join(known)} (e.g. --params data_generation.sizes.train=5); fix the first part "
        "of the key."
    )


def configured_namespaces(config_loader: Any) -> set[str]:
    """Top-level keys of the parameter files of ``config_loader``, without runtime params."""
    saved = getattr(config_loader, "runtime_params", None)
    try:
        config_loader.runtime_params = {}
        return set(config_loader["parameters"])
    except Exception:  # noqa: BLE001 — unreadable parameters are reported by Kedro itself
        return set()
    finally:
        config_loader.runtime_params = saved


def check_output_paths(pipeline: Any, catalog: Any) -> None:
    """No file dataset of the project the run will write has a folder at its path."""
    from cemap.datasets import PathIsFolderError, _FsspecFileDataset

    for name in sorted(pipeline.all_outputs()):
        if name not in catalog:
            continue
        dataset = catalog.get(name)
        if not isinstance(dataset, _FsspecFileDataset):
            continue
        path = dataset._path()
        if dataset._fs.isdir(path):
            raise PathIsFolderError(
                f"The run would write {name!r} to {path}, but a folder is there, where the "
                f"file should be. Move or delete the folder {path}, or point the catalog "
                f"entry {name!r} elsewhere; nothing has run yet."
            )


class RunChecksHook:
    """The checks of this module, for every run (CLI or Python): env and ``--params`` once
    the context exists, output paths before the first node."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        check_output_paths(pipeline, catalog)

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        loader = context.config_loader
        check_env(context.env, getattr(loader, "conf_source", None))
        runtime_params = getattr(context, "_runtime_params", None)
        if not runtime_params:
            return
        from kedro.framework.project import pipelines

        known = configured_namespaces(loader) | pipeline_namespaces(pipelines.values())
        check_runtime_params(runtime_params, known)
