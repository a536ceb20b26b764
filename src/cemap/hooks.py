"""Kedro hooks of CEMap: every one the project registers (``settings.HOOKS``)."""

from __future__ import annotations

import importlib
import logging
import math
import pkgutil
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline
from mlflow.entities import Metric
from pydantic import BaseModel

from cemap.concepts import EVALUATION_SPLITS
from cemap.errors import UserInputError
from cemap.evaluation.report import headline_markdown, summary_metrics
from cemap.memory import peak_rss_bytes, release_freed_memory
from cemap.tracking import flatten, mlflow_metric_name

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


class ReleaseMemoryHook:
    """After every node, hand the memory its freed data left on the heap back to the OS, so
    the peak of a whole ``kedro run`` is the peak of its largest node, not a sum of leftovers.
    Before that, the node's peak resident memory (loading its inputs, running, saving its
    outputs) goes to the log and into the active MLflow run as ``memory/<node>/peak_rss_gb``,
    so a run that misses the memory bar says where.

    Each node's peak is read by resetting the kernel's high-water mark, which also resets what
    ``/usr/bin/time -v`` reports as the maximum resident set size (it then covers only the last
    node). The run's peak is therefore the largest node peak: ``memory/peak_rss_gb`` in
    MLflow, and the last line the hook logs."""

    def __init__(self) -> None:
        self._run_peak: tuple[int, str] = (0, "")

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._run_peak = (0, "")
        peak_rss_bytes(reset=True)

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        peak = peak_rss_bytes()
        if peak is not None:
            gb = peak / 1e9
            logger.info("Node %s peaked at %.2f GB resident.", node.name, gb)
            if mlflow.active_run() is not None:
                mlflow.log_metric(f"memory/{node.name}/peak_rss_gb", round(gb, 3))
                if peak > self._run_peak[0]:
                    mlflow.log_metric("memory/peak_rss_gb", round(gb, 3))
            self._run_peak = max(self._run_peak, (peak, node.name))
        release_freed_memory()
        peak_rss_bytes(reset=True)

    @hook_impl
    def after_pipeline_run(self) -> None:
        peak, name = self._run_peak
        if name:
            logger.info("The run peaked at %.2f GB resident (node %s).", peak / 1e9, name)


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


# --- the MLflow run as a reader meets it -------------------------------------------------------

#: The experiment tag holding MLflow 3's ``ExperimentKind``: ``custom_model_development`` is
#: model training (its experiment page opens on the runs table), ``genai_development`` traces
#: and agents (the traces overview). MLflow 3.17's UI lets its GenAI / Model training switch
#: (remembered per browser, ``?workflowType=machine_learning`` in a link) take precedence.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
#: The run's description in the MLflow UI (markdown).
DESCRIPTION_TAG = "mlflow.note.content"
_SMOKE_NOTE = " (tiny models for quick checks: the numbers say nothing about the method)"
#: The free input of the report node: which run, environment, date and configuration.
RUN_INFO = "run_info"

# (dotted parameter key, how the configuration summary names it)
_CONFIGURATION = (
    ("data_generation.sizes", "samples"),
    ("data_generation.digits.source", "digits"),
    ("data_generation.heldout.mode", "held-out"),
    ("data_generation.speech.backend", "speech"),
    ("embeddings.image.training.epochs", "image AE epochs"),
    ("embeddings.text.training.epochs", "text AE epochs"),
    ("embeddings.speech.training.epochs", "speech AE epochs"),
    ("joint_latent.model.objective", "objective"),
    ("joint_latent.model.latent_dim", "latent dim"),
    ("joint_latent.training.epochs", "joint epochs"),
)
# Reporting outputs whose numbers become MLflow metrics: "<m>.<name>" -> prefix "embeddings/<m>".
_EMBEDDING_REPORTS = ("probe_metrics", "reconstruction_metrics")


def _lookup(parameters: Mapping[str, Any], dotted: str) -> Any:
    """``parameters["a"]["b"]`` for ``"a.b"``, through dicts and validated pydantic models;
    None when absent."""
    value: Any = parameters
    for key in dotted.split("."):
        if isinstance(value, BaseModel):
            value = getattr(value, key, None)
        elif isinstance(value, Mapping):
            value = value.get(key)
        else:
            return None
        if value is None:
            return None
    return value


def configuration_summary(parameters: Mapping[str, Any], prefix: str = "") -> str:
    """The settings that tell one run from another, on one line (``samples train 12000 / …;
    objective proxy_variable; …``), those under ``prefix`` only when given; keys absent from
    ``parameters`` are left out."""
    parts = []
    for key, label in _CONFIGURATION:
        if not key.startswith(prefix):
            continue
        value = _lookup(parameters, key)
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        if isinstance(value, Mapping):
            value = " / ".join(f"{k} {v}" for k, v in value.items())
        if value is not None:
            parts.append(f"{label} {value}")
    return "; ".join(parts)


def run_name(pipeline_names: list[str], env: str, started: datetime) -> str:
    """``evaluation · smoke · 2026-12-01 15:34``: what ran, where, when (UTC)."""
    return f"{'+'.join(pipeline_names)} · {env} · {started:%Y-%m-%d %H:%M}"


def kedro_command(run_params: Mapping[str, Any], env: str) -> str:
    """The ``kedro run`` command line that repeats this run, ``--env`` included."""
    words = ["kedro", "run", f"--env={env}"]
    options = (
        ("pipeline_names", "--pipelines"),
        ("tags", "--tags"),
        ("node_names", "--nodes"),
        ("from_nodes", "--from-nodes"),
        ("to_nodes", "--to-nodes"),
        ("from_inputs", "--from-inputs"),
        ("to_outputs", "--to-outputs"),
        ("namespaces", "--namespaces"),
    )
    for key, option in options:
        value = run_params.get(key)
        if value:
            words.append(f"{option}={','.join(value) if not isinstance(value, str) else value}")
    if run_params.get("load_versions"):
        versions = ",".join(f"{k}:{v}" for k, v in run_params["load_versions"].items())
        words.append(f"--load-versions={versions}")
    if run_params.get("runtime_params") or run_params.get("extra_params"):
        extra = run_params.get("runtime_params") or run_params.get("extra_params")
        flat = flatten(extra, "")
        words.append("--params=" + ",".join(f"{k[1:]}={v}" for k, v in flat.items()))
    return " ".join(words)


def runner_name(runner: Any) -> str:
    """``SequentialRunner`` for the runner, its class or the ``<kedro.runner…SequentialRunner
    object at 0x…>`` text Kedro puts in ``run_params``."""
    if not isinstance(runner, str):
        return runner.__name__ if isinstance(runner, type) else type(runner).__name__
    return runner.removeprefix("<").split(" object at ", 1)[0].rsplit(".", 1)[-1]


def _pipeline_names(run_params: Mapping[str, Any]) -> list[str]:
    """The pipelines of the run, sorted: Kedro does not keep the order of ``--pipelines``, and
    one command should give one run name."""
    names = run_params.get("pipeline_names") or run_params.get("pipeline_name") or ["__default__"]
    return [names] if isinstance(names, str) else sorted(names)


def _numbers(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers in ``values`` (nested mappings joined by ``/``) as MLflow metrics."""
    numbers: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            numbers.update(_numbers(value, name))
        elif (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ):
            numbers[mlflow_metric_name(name)] = float(value)
    return numbers


def _skip_model_reprs_in_kedro_mlflow() -> None:
    """kedro-mlflow logs a typed parameter (a pydantic model) as one ``str()`` of the whole
    object; :class:`FlatParametersHook` logs its fields one key each, so the repr only
    duplicates them. Its hook instance is wrapped, once, to leave such values out."""
    try:
        from kedro_mlflow.framework.hooks import mlflow_hook
    except ImportError:  # kedro-mlflow absent: nothing logs the reprs
        return
    log_param = mlflow_hook._log_param
    if getattr(log_param, "_cemap_skips_models", False):
        return

    def logged_unless_model(name: str, value: Any) -> Any:
        if isinstance(value, BaseModel):
            return None
        return log_param(name, value)

    logged_unless_model._cemap_skips_models = True  # type: ignore[attr-defined]
    mlflow_hook._log_param = logged_unless_model


class MlflowRunHook:
    """Makes the run kedro-mlflow opens readable in the MLflow UI.

    Before the run: the experiment is marked as model training (``mlflow.experimentKind``),
    the run is named ``<pipelines> · <env> · <date>``, the ``runner`` and ``kedro_command``
    tags read as text (the command with ``--env``), typed parameters are logged only
    flattened, and ``run_info`` (run id, environment, date, configuration) is filled for the
    report node. After each node: the
    embeddings' probe and reconstruction numbers and the joint alignment report as metrics
    (``embeddings/<m>/…``, ``joint/…``). After the run: ``summary/…`` metrics
    (:func:`cemap.evaluation.report.summary_metrics`) and a description holding the headline
    table. Runs after kedro-mlflow's own hook (plugins are called first), through the client, so
    it works whether or not the run is still active.
    """

    def __init__(self) -> None:
        self._run_id: str | None = None
        self._metrics: dict[str, float] = {}
        self._info: dict[str, str] = {}

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        started = datetime.now(timezone.utc)
        env = run_params.get("env") or "local"
        try:
            parameters = catalog.load("parameters")
        except Exception:  # noqa: BLE001 — a catalog without parameters has no summary
            parameters = {}
        run = mlflow.active_run()
        self._run_id = run.info.run_id if run else None
        self._metrics = {}
        self._info = {
            "run id": self._run_id or "(not tracked)",
            "pipelines": ", ".join(_pipeline_names(run_params)),
            "environment": env + (_SMOKE_NOTE if env == "smoke" else ""),
            "date": f"{started:%Y-%m-%d %H:%M} UTC",
            "configuration": configuration_summary(parameters) or "–",
            "command": kedro_command(run_params, env),
        }
        if RUN_INFO in catalog:
            catalog.save(RUN_INFO, dict(self._info))  # the catalog's RunInfoDataset
        else:
            catalog[RUN_INFO] = dict(self._info)
        if run is None:
            return
        _skip_model_reprs_in_kedro_mlflow()
        client = mlflow.MlflowClient()
        experiment = client.get_experiment(run.info.experiment_id)
        if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            client.set_experiment_tag(
                experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
            )
        runner = run_params.get("runner")
        tags = {
            "mlflow.runName": run_name(_pipeline_names(run_params), env, started),
            "kedro_command": self._info["command"],
            "env": env,
            "configuration": self._info["configuration"][:5000],
        }
        if runner is not None:
            tags["runner"] = runner_name(runner)
        for key, value in tags.items():
            client.set_tag(self._run_id, key, value)

    @hook_impl
    def after_node_run(self, node, outputs: dict[str, Any]) -> None:
        metrics: dict[str, float] = {}
        for name, value in outputs.items():
            if not isinstance(value, Mapping):
                continue
            modality, _, short = name.rpartition(".")
            if modality and short in _EMBEDDING_REPORTS:
                metrics.update(_numbers(value, f"embeddings/{modality}"))
            elif name == "joint_alignment_report":
                metrics.update(_numbers(value, "joint"))
            elif name == "evaluation_metrics":
                self._metrics.update(_numbers(value))
        self._metrics.update(metrics)
        if self._run_id and metrics:
            now = int(time.time() * 1000)
            mlflow.MlflowClient().log_batch(
                self._run_id, metrics=[Metric(k, v, now, 0) for k, v in sorted(metrics.items())]
            )

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        if not self._run_id:
            return
        client = mlflow.MlflowClient()
        summary = {f"summary/{k}": v for k, v in summary_metrics(self._metrics).items()}
        if summary:
            now = int(time.time() * 1000)
            client.log_batch(
                self._run_id, metrics=[Metric(k, v, now, 0) for k, v in summary.items()]
            )
        client.set_tag(self._run_id, DESCRIPTION_TAG, self.description(summary))

    def description(self, summary: Mapping[str, float]) -> str:
        """Markdown for the run page: what ran, the headline table, where the rest is."""
        info = self._info
        pipelines = ", ".join(f"`{name}`" for name in info["pipelines"].split(", "))
        env = info["environment"].removesuffix(_SMOKE_NOTE)
        lines = [f"**CEMap** {pipelines} · env `{env}` · {info['date']}", ""]
        if env == "smoke":
            lines += [f"_{_SMOKE_NOTE.strip(' ()')}._", ""]
        headline = headline_markdown(self._metrics)
        if headline:
            lines += [headline, ""]
        lines += [f"Configuration: {info['configuration']}.", ""]
        if summary:
            lines += [
                "Headline numbers: the `summary/` metrics. Every table and figure: the "
                "`report.html` artifact. The command: the `kedro_command` tag.",
            ]
        return "\n".join(lines)


class ModelVersionCardHook:
    """After the run: the model version it registered gets a description (what it does, which
    run trained it, the headline table), tags (``data``, ``objective``, ``headline coherence``)
    and the run's ``summary/`` numbers as metrics of its logged model, so the registry page and
    the model page say what the model is and how good it is.

    Only versions whose source run is this run are touched; the registry name and aliases are
    left to ``cemap.serving``.
    """

    def __init__(self) -> None:
        self._run_id: str | None = None
        self._parameters: Mapping[str, Any] = {}
        self._env = "local"

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: CatalogProtocol) -> None:
        run = mlflow.active_run()
        self._run_id = run.info.run_id if run else None
        self._env = run_params.get("env") or "local"
        try:
            self._parameters = catalog.load("parameters")
        except Exception:  # noqa: BLE001 — no parameters, no data/objective tags
            self._parameters = {}

    @hook_impl
    def after_pipeline_run(self) -> None:
        if not self._run_id:
            return
        client = mlflow.MlflowClient()
        versions = client.search_model_versions(f"run_id = '{self._run_id}'")
        if not versions:
            return
        run = client.get_run(self._run_id)
        metrics = dict(run.data.metrics)
        summary = summary_metrics(metrics)
        for version in versions:
            describe_model_version(
                client, version, run, summary, self._parameters, self._env, metrics
            )


def describe_model_version(
    client: mlflow.MlflowClient,
    version: Any,
    run: Any,
    summary: Mapping[str, float],
    parameters: Mapping[str, Any],
    env: str,
    metrics: Mapping[str, float],
) -> None:
    """Description, tags and logged-model metrics of one registered model ``version``."""
    data = configuration_summary(parameters, "data_generation.")
    objective = _lookup(parameters, "joint_latent.model.objective")
    coherence = {
        k.removeprefix("coherence_"): v for k, v in summary.items() if k.startswith("coherence_")
    }
    first = f"_{EVALUATION_SPLITS[0]}"
    headline = ", ".join(
        f"{k.removesuffix(first).replace('_to_', '→')} {v:.1%}"
        for k, v in coherence.items()
        if k.endswith(first)
    )
    lines = [
        "Text or speech → image (28×56 RGB, two coloured digits) through CEMap's joint latent: "
        "`predict` takes a DataFrame with a `text` column (a sentence) or an `audio` column (a "
        "waveform, with an optional `sample_rate`) and returns uint8 images.",
        "",
        f"Trained by run `{run.info.run_name}` (`{run.info.run_id}`), env `{env}`.",
        f"Objective: `{objective}`. Data: {data or '–'}.",
        "",
    ]
    table = headline_markdown(metrics)
    if table:
        lines += [table, ""]
    client.update_model_version(version.name, version.version, description="\n".join(lines))
    tags = {"data": data, "objective": objective, "env": env, "headline coherence": headline}
    for key, value in tags.items():
        if value:
            client.set_model_version_tag(version.name, version.version, key, str(value)[:5000])
    model_id = getattr(version, "model_id", None)
    if not model_id and str(version.source).startswith("models:/m-"):
        model_id = str(version.source).removeprefix("models:/").split("/", 1)[0]
    if model_id and summary:
        mlflow.log_metrics(
            {f"summary/{k}": v for k, v in summary.items()},
            run_id=run.info.run_id,
            model_id=model_id,
        )
