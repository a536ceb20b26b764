"""Kedro hooks of CEMap: every one the project registers (``settings.HOOKS``)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import importlib
import logging
import pkgutil
from collections.abc import Callable
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline
from pydantic import BaseModel

from cemap.errors import UserInputError
from cemap.tracking import flatten

logger = logging.getLogger(__name__)


class MissingPipelineInputsError(UserInputError, RuntimeError):
    """A pipeline was started without the persisted outputs of the pipelines it builds on."""


def _project_pipelines() -> dict[str, Pipeline]:
    """Every pipeline under ``cemap.pipelines``, whatever subset this run loaded.

    ``kedro run --pipelines=x`` loads only ``x``, so the registry cannot say who produces a
    missing input; the pipeline packages can. A package that fails to import is skipped: the
    error at hand is the missing input, not that package.
    """
    import cemap.pipelines

    found = {}
    for module in pkgutil.iter_modules(cemap.pipelines.__path__):
        if not module.ispkg:
            continue
        try:
            package = importlib.import_module(f"cemap.pipelines.{module.name}")
            found[module.name] = package.create_pipeline()
        except Exception:  # noqa: BLE001 — see docstring
            logger.debug("Skipping pipeline package %s", module.name, exc_info=True)
    return found


def _upstream_order(needed: set[str], pipelines: dict[str, Pipeline]) -> list[str]:
    """``needed`` pipelines, each after every needed pipeline whose outputs it consumes."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        for other in sorted(needed - {name}):
            if pipelines[other].all_outputs() & pipelines[name].inputs():
                visit(other)
        ordered.append(name)

    for name in sorted(needed):
        visit(name)
    return ordered


def _data_inputs(pipeline: Pipeline) -> set[str]:
    return {d for d in pipeline.inputs() if not d.startswith("params:") and d != "parameters"}


def missing_inputs_message(
    missing: list[str], pipelines: dict[str, Pipeline], exists: Callable[[str], bool]
) -> str | None:
    """Why the run cannot start and which pipelines to run first; None if no pipeline
    produces any of the ``missing`` datasets.

    A pipeline is needed when it produces a missing dataset, or, transitively, a missing input
    of a needed pipeline; ``exists(name)`` says whether a dataset is persisted.
    """
    pipelines = {name: p for name, p in pipelines.items() if name != "__default__"}
    produced = [d for d in missing if any(d in p.all_outputs() for p in pipelines.values())]
    if not produced:
        return None
    needed: set[str] = set()
    frontier, seen = list(produced), set()
    while frontier:
        dataset = frontier.pop()
        seen.add(dataset)
        for name, pipeline in pipelines.items():
            if dataset in pipeline.all_outputs() and name not in needed:
                needed.add(name)
                frontier += [d for d in _data_inputs(pipeline) - seen if not exists(d)]
    order = _upstream_order(needed, pipelines)
    one = len(produced) == 1
    return (
        f"This run needs {', '.join(repr(d) for d in produced)}, which "
        f"{'does' if one else 'do'} not exist yet: {'it is' if one else 'they are'} written by "
        f"the {', '.join(order)} pipeline{'' if len(order) == 1 else 's'}. Run "
        f"`kedro run --pipelines={','.join(order)}` first (with the same --env, if any), "
        "or everything at once with `kedro run`."
    )


class MissingInputsHook:
    """Fail fast, before any node runs, when a free input of the run is another pipeline's
    output that was never persisted — saying which pipelines to run first.

    Free inputs that no pipeline produces (raw files, say) are left to their datasets.
    """

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        missing = [d for d in sorted(_data_inputs(pipeline)) if not catalog.exists(d)]
        if not missing:
            return
        message = missing_inputs_message(missing, _project_pipelines(), catalog.exists)
        if message:
            raise MissingPipelineInputsError(message)


def release_freed_memory() -> bool:
    """Give the heap pages that freed objects left behind back to the OS; True if it could.

    Rendering speech allocates thousands of clip-sized arrays; once freed, glibc keeps the
    fragmented heap mapped, so the process carried ~1.7 GB it no longer used into the
    training nodes that followed. ``malloc_trim`` (glibc only) returns it.
    """
    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
    return True


class ReleaseMemoryHook:
    """After every node, hand the memory its freed data left on the heap back to the OS, so
    the peak of a whole ``kedro run`` is the peak of its largest node, not a sum of leftovers."""

    @hook_impl
    def after_node_run(self) -> None:
        release_freed_memory()


class FlatParametersHook:
    """Logs each typed ``params:`` input of a node, flattened, into the active MLflow run.

    kedro-mlflow flattens dict parameters, but Kedro hands nodes validated pydantic models,
    which kedro-mlflow logs as one long string; this logs their fields one key each
    (``embeddings.image.training.epochs``) so runs can be compared and filtered per key.
    """

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
