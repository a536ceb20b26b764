"""Project commands: ``kedro run``, ``kedro kfp compile`` (Kubeflow Pipelines v2) and
``kedro generate``.

Kedro loads ``cli`` from this module into the project's command list, where its commands
replace the built-in ones of the same name. ``run`` is Kedro's ``run`` with the same options,
checked first (env, pipelines) and printing errors a user can fix as their message alone
(``--verbose`` keeps the traceback); ``python -m cemap`` looks it up here too. The ``cemap``
console script is ``main``: ``cemap run``, ``cemap generate``, ``cemap kfp compile``.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import CONTEXT_SETTINGS, _split_params, split_string
from kedro.framework.startup import ProjectMetadata

import cemap.notices  # noqa: F401  (library notices off the console)
from cemap.errors import UserInputError, user_error_in
from cemap.kubeflow.plan import GROUP_BY_CHOICES

logger = logging.getLogger(__name__)


@click.group(context_settings=CONTEXT_SETTINGS, name="cemap")
def cli() -> None:
    """CEMap project commands."""


def _user_error(error: BaseException) -> BaseException | None:
    """The error a user can fix in ``error``'s chain: a ``UserInputError`` or Kedro's
    typed-parameter error (its message names the key, the value and the fix)."""
    from kedro.validation.exceptions import ParameterValidationError

    found = user_error_in(error)
    seen: set[int] = set()
    while found is None and error is not None and id(error) not in seen:
        if isinstance(error, ParameterValidationError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return found


def _run(verbose: bool, **options: Any) -> Any:
    """Kedro's ``run`` after the checks of ``cemap.run_checks``; user errors as one message."""
    from kedro.framework.project import pipelines, settings

    from cemap.run_checks import check_env, check_pipelines

    ctx = click.get_current_context()
    project = _project_path(ctx, None)
    try:
        env = options["env"] or os.environ.get("KEDRO_ENV")
        check_env(env, options["conf_source"] or project / settings.CONF_SOURCE)
        names = [*options["pipelines"], *([options["pipeline"]] if options["pipeline"] else [])]
        if names:
            check_pipelines(names, pipelines.keys())
    except UserInputError as exc:
        raise click.ClickException(str(exc)) from None
    # Kedro logs each typed-parameter error before raising it; the message below says it once.
    validator_log = logging.getLogger("kedro.validation.parameter_validator")
    level = validator_log.level
    if not verbose:
        validator_log.setLevel(logging.CRITICAL)
    try:
        return kedro_run.callback(**options)
    except Exception as exc:
        user_error = _user_error(exc)
        if user_error is None or verbose:
            raise
        logger.debug("The run stopped on an input error.", exc_info=True)
        raise click.ClickException(
            f"{user_error}\n(Run again with --verbose for the traceback.)"
        ) from None
    finally:
        validator_log.setLevel(level)


run = click.Command(
    "run",
    callback=_run,
    params=[
        *kedro_run.params,
        click.Option(
            ["--verbose"],
            is_flag=True,
            help="Show the full traceback of an input error, not just its message.",
        ),
    ],
    help=kedro_run.help,
    context_settings=CONTEXT_SETTINGS,
)
cli.add_command(run)


@cli.group()
def kfp() -> None:
    """Kubeflow Pipelines (KFP v2): compile Kedro pipelines to a pipeline YAML, or rehearse a run here."""


def _name_value_pairs(example: str = ""):
    """A click callback: repeated ``NAME=VALUE`` options as a dict; ``example`` ends the error."""

    def parse(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict:
        pairs = {}
        for item in values:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise click.BadParameter(
                    f"'{item}' is not NAME=VALUE{example}.", ctx=ctx, param=param
                )
            pairs[name.strip()] = value
        return pairs

    return parse


_env_vars = _name_value_pairs()
_build_args = _name_value_pairs(
    " (e.g. BASE=cemap-base:bookworm, or TORCH_INDEX_URL= for an empty value)"
)


def _pipelines_option(what: str):
    return click.option(
        "--pipelines",
        "-p",
        "pipeline_names",
        default="__default__",
        show_default=True,
        callback=split_string,
        help=f"Comma-separated registered pipelines to {what}.",
    )


def _group_by_option(task: str):
    return click.option(
        "--group-by",
        type=click.Choice(GROUP_BY_CHOICES),
        default="node",
        show_default=True,
        help=f"One {task} per Kedro node, or per registered pipeline.",
    )


def _kedro_params(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, dict]:
    # Parsed exactly as `kedro run --params` will parse it in every task, so errors show now.
    return value, _split_params(ctx, param, value)


@kfp.command("compile")
@_pipelines_option("compile")
@click.option(
    "--image", required=True, help="Container image with this project installed (Dockerfile)."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default="pipeline.yaml",
    show_default=True,
    help="Where to write the KFP pipeline YAML.",
)
@click.option(
    "--env",
    "-e",
    default="cloud",
    show_default=True,
    help="Kedro env every task runs with; its catalog must persist every hand-off between tasks.",
)
@_group_by_option("task")
@click.option(
    "--gpu-nodes",
    default="training",
    show_default=True,
    callback=split_string,
    help="Comma-separated node names or tags whose tasks request GPUs; '' for none.",
)
@click.option("--gpu-count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--accelerator-type", default="nvidia.com/gpu", show_default=True)
@click.option(
    "--params",
    default="",
    callback=_kedro_params,
    help="Parameters for every task, as `kedro run --params` (k=v,...); the default of the "
    "pipeline's `kedro_params` input, which a run can override.",
)
@click.option(
    "--mlflow-tracking-uri",
    default=None,
    help="Set MLFLOW_TRACKING_URI in every task (the cloud env logs there).",
)
@click.option(
    "--env-var",
    "env_vars",
    multiple=True,
    callback=_env_vars,
    help="NAME=VALUE set in every task, e.g. AWS_ENDPOINT_URL=http://minio:9000. Not for "
    "secrets: the YAML holds it in clear.",
)
@click.option(
    "--name", "pipeline_name", default=None, help="KFP pipeline name [cemap-<pipelines>]."
)
@click.option(
    "--enable-caching/--disable-caching",
    default=False,
    show_default=True,
    help="KFP step caching; off because tasks exchange data through storage KFP does not see.",
)
@click.pass_context
def compile_(
    ctx: click.Context,
    pipeline_names: list[str],
    image: str,
    output: Path,
    env: str,
    group_by: str,
    gpu_nodes: list[str],
    gpu_count: int,
    accelerator_type: str,
    params: tuple[str, dict],
    mlflow_tracking_uri: str | None,
    env_vars: dict[str, str],
    pipeline_name: str | None,
    enable_caching: bool,
) -> None:
    """Compile Kedro pipelines into a Kubeflow Pipelines v2 YAML.

    Each task runs `kedro run --nodes=<node> --env=<env> --params=<kedro_params>` (or
    `--pipelines=<name>` with --group-by pipeline) in IMAGE, after the tasks writing what it
    reads. Fails, naming them, if a dataset handed between tasks is not persisted in ENV.
    """
    from cemap.kubeflow.plan import MemoryHandoffError
    from cemap.kubeflow.project import compile_project_pipeline

    project_path = _project_path(ctx, None)
    params_text, runtime_params = params
    if mlflow_tracking_uri:
        env_vars = {"MLFLOW_TRACKING_URI": mlflow_tracking_uri, **env_vars}
    gpu_source = ctx.get_parameter_source("gpu_nodes")
    try:
        compiled = compile_project_pipeline(
            project_path,
            pipeline_names=pipeline_names,
            image=image,
            output=output,
            env=env,
            group_by=group_by,
            gpu_selectors=gpu_nodes,
            require_gpu_match=gpu_source is not click.core.ParameterSource.DEFAULT,
            params=params_text,
            runtime_params=runtime_params,
            pipeline_name=pipeline_name,
            accelerator_type=accelerator_type,
            accelerator_count=gpu_count,
            env_vars=env_vars,
            enable_caching=enable_caching,
        )
    except (MemoryHandoffError, ValueError, ImportError) as exc:
        # Not KedroCliError: outside an `except` block it prints "NoneType: None", not the message.
        raise click.ClickException(str(exc)) from exc

    gpu = [step.name for step in compiled.steps if step.gpu]
    edges = sum(len(parents) for parents in compiled.dependencies.values())
    click.echo(
        f"Wrote {compiled.output}: {len(compiled.steps)} task(s), one per {group_by}, "
        f"{edges} dependenc{'y' if edges == 1 else 'ies'}, env '{env}', image {image}."
    )
    click.echo(f"GPU ({gpu_count} x {accelerator_type}): {', '.join(gpu) or 'none'}.")
    if compiled.data_root:
        click.echo(f"Tasks read and write datasets under {compiled.data_root}.")
    if compiled.unmatched_gpu_selectors:
        click.secho(
            f"Warning: --gpu-nodes {', '.join(compiled.unmatched_gpu_selectors)} matches no "
            f"node name or tag here.",
            fg="yellow",
        )
    if compiled.local_datasets:
        click.secho(
            f"Warning: {len(compiled.local_datasets)} dataset(s) handed between tasks are at "
            f"plain paths ({', '.join(compiled.local_datasets)}); pods share them only on a "
            f"volume they all mount. Use an object-store data_root (conf/cloud/globals.yml).",
            fg="yellow",
        )
    if "MLFLOW_TRACKING_URI" not in env_vars:
        click.secho(
            "Note: no --mlflow-tracking-uri; the cloud env's tasks need MLFLOW_TRACKING_URI "
            "set in their pods some other way, or they fail at start.",
            fg="yellow",
        )


@kfp.command("rehearse")
@_pipelines_option("compile and run")
@click.option(
    "--size",
    type=click.Choice(["smoke", "full"]),
    default="smoke",
    show_default=True,
    help="smoke: conf/smoke's parameter files as every task's --params (minutes); "
    "full: the cloud env's parameters as they are.",
)
@_group_by_option("task (container)")
@click.option(
    "--image", default="cemap:rehearsal", show_default=True, help="Image tag to build and run."
)
@click.option(
    "--build/--no-build",
    default=True,
    show_default=True,
    help="docker build the image first (layers cached), or run IMAGE as it is.",
)
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    callback=_build_args,
    help="NAME=VALUE for the Dockerfile, e.g. BASE=cemap-base:bookworm (repeatable).",
)
@click.option(
    "--wheelhouse",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="pip download the image's packages here and build from it alone (WHEELS_URL), for "
    "builds that cannot reach a package index themselves.",
)
@click.option(
    "--task-env",
    "task_env",
    multiple=True,
    callback=_env_vars,
    help="NAME=VALUE added to every task container after the S3 keys, e.g. "
    "AWS_SECRET_ACCESS_KEY=wrong to see a task fail.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for logs, the YAML and the MLflow database [a new /tmp/cemap-rehearsal-*].",
)
@click.option("--verbose", "-v", is_flag=True, help="Stream every task's log.")
@click.pass_context
def rehearse(
    ctx: click.Context,
    pipeline_names: list[str],
    size: str,
    group_by: str,
    image: str,
    build: bool,
    build_args: dict[str, str],
    wheelhouse: Path | None,
    task_env: dict[str, str],
    workdir: Path | None,
    verbose: bool,
) -> None:
    """Run the compiled pipeline on this machine as Kubeflow would, and check what it left.

    Starts an S3 API (moto) and an MLflow server on 127.0.0.1, builds IMAGE, compiles the
    pipelines for the cloud env, runs them with kfp.local.DockerRunner (one container per
    task, host network), then checks each task's exit status, the datasets in the bucket, the
    MLflow runs with their metrics and artifacts, and the registered model. Stops everything
    it started. Needs Docker and pip install -e '.[kubeflow]'.
    """
    from cemap.kubeflow.rehearsal import RehearsalError
    from cemap.kubeflow.rehearsal import rehearse as run_rehearsal

    project_path = _project_path(ctx, None)
    started = time.monotonic()
    try:
        report = run_rehearsal(
            project_path,
            pipeline_names=pipeline_names,
            size=size,
            group_by=group_by,
            image=image,
            build=build,
            build_args=build_args,
            wheelhouse=wheelhouse.resolve() if wheelhouse else None,
            task_env=task_env,
            workdir=workdir,
            verbose=verbose,
            echo=click.echo,
        )
    except RehearsalError as exc:
        raise click.ClickException(f"Rehearsal failed: {exc}") from exc
    click.secho(
        f"Rehearsal passed in {time.monotonic() - started:.0f} s (pipeline "
        f"{report.pipeline_seconds:.0f} s): {len(report.tasks)} tasks in "
        f"{report.containers} containers, {len(report.datasets)} datasets in the bucket, "
        f"{len(report.runs)} MLflow runs, registered model(s) "
        f"{', '.join(f'{n} v{v}' for n, v in report.models.items()) or 'none'}; "
        f"image {image} {report.image_size / 1e9:.2f} GB. Logs: {report.workdir}",
        fg="green",
    )


def _check_n_samples(ctx: click.Context, param: click.Parameter, value: int) -> int:
    from cemap.generate import MAX_OUTPUTS

    if value < 1 or value > MAX_OUTPUTS:
        raise click.BadParameter(
            f"{value} outputs asked for; give 1 to {MAX_OUTPUTS} (the most one command "
            f"writes). For more, run it again with another --out.",
            ctx=ctx,
            param=param,
        )
    return value


@cli.command()
@click.option("--text", help="A sentence, e.g. 'red three and blue seven'.")
@click.option(
    "--audio",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An audio file of a spoken sentence (WAV, FLAC, OGG; any rate, mono or stereo).",
)
@click.option(
    "--to",
    "target",
    type=click.Choice(["image", "text", "speech"]),
    default="image",
    show_default=True,
    help="What to generate.",
)
@click.option(
    "-n",
    "--n-samples",
    type=int,
    callback=_check_n_samples,
    default=1,
    show_default=True,
    help="Outputs to generate, 1 to 1000; 1 is the posterior mean, more are draws from the "
    "posterior (generated and written 64 at a time).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("generated"),
    show_default=True,
    help="A folder, or a file: .png (image), .txt (text) or .wav (speech; numbered if -n > 1).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace files already at the output paths [default: refuse, naming them].",
)
@click.option(
    "--model",
    default=None,
    help="An MLflow model URI (models:/cemap-text-speech-to-image@champion, runs:/<id>/...) "
    "[default: the models of the last `kedro run` under the project's data/06_models].",
)
@click.option(
    "--project-path",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="The Kedro project [default: the one containing the working directory].",
)
@click.option(
    "--env",
    "-e",
    default=None,
    help="Kedro env whose data_root holds the local models, e.g. smoke [default: local].",
)
@click.pass_context
def generate(
    ctx: click.Context,
    text: str | None,
    audio: Path | None,
    target: str,
    n_samples: int,
    out: Path,
    overwrite: bool,
    model: str | None,
    project_path: Path | None,
    env: str | None,
) -> None:
    """Generate images, sentences or speech from a sentence (--text) or a recording (--audio).

    Nothing is written until every input and output path is checked; files already at the
    output paths are kept unless --overwrite.
    """
    from cemap import generate as generation
    from cemap import inputs

    if (text is None) == (audio is None):
        raise click.UsageError("Give exactly one of --text and --audio.")
    # Resampling and downmixing are reported, not errors.
    logging.getLogger(inputs.__name__).setLevel(logging.INFO)
    project = _project_path(ctx, project_path)
    try:
        paths = generation.plan_outputs(target, out, n_samples, overwrite)
        data_root = _data_root(project, env) if model is None else "data"
        generator = generation.load_generator(model, project, data_root)
        clip = generation.read_audio(audio) if audio is not None else None
        rate = generation.speech_rate(generator) if target == "speech" else None
        written, sentences = [], []
        for start in range(0, n_samples, generation.OUTPUT_BATCH):
            count = min(generation.OUTPUT_BATCH, n_samples - start)
            if text is not None:
                generated = generation.generate_from_text(
                    generator, text, target, count, use_mean=n_samples == 1
                )
            else:
                generated = generation.generate_from_audio(
                    generator, [clip], target, count, [str(audio)], use_mean=n_samples == 1
                )
            samples = generation.samples_of(generated, 0, count)
            if target == "text":
                sentences += samples
                continue
            written += _write(generation, samples, target, paths[start : start + count], rate)
        if target == "text":
            written = _write(generation, sentences, target, paths, rate)
    except generation.GenerationError as exc:
        raise click.ClickException(str(exc)) from None
    if target == "text":
        for sentence in sentences[:10]:
            click.echo(sentence)
        if len(sentences) > 10:
            click.echo(f"… and {len(sentences) - 10} more in {written[0]}")
    click.echo(generation.describe_written(written))


def _write(generation, samples, target, paths, rate) -> list[Path]:
    """``write_outputs`` with a failing disk (permissions, a full disk) as a GenerationError."""
    try:
        return generation.write_outputs(samples, target, paths, sample_rate=rate)
    except OSError as exc:
        raise generation.GenerationError(
            f"Cannot write {paths[0]}: {exc.strerror or exc}. Give --out a folder you can write to."
        ) from None


def _project_path(ctx: click.Context, given: Path | None) -> Path:
    if given is not None:
        return given.resolve()
    if isinstance(ctx.obj, ProjectMetadata):  # under `kedro generate`
        return ctx.obj.project_path
    from kedro.utils import find_kedro_project

    return find_kedro_project(Path.cwd()) or Path.cwd()


def _data_root(project: Path, env: str | None) -> str:
    """``data_root`` of ``env`` in the project's ``globals.yml`` (``data`` without conf)."""
    if not (project / "conf").is_dir():
        return "data"
    from kedro.config import OmegaConfigLoader

    from cemap.inputs import GenerationError
    from cemap.run_checks import UnknownEnvError, check_env
    from cemap.settings import CONFIG_LOADER_ARGS

    try:
        check_env(env, project / "conf")
    except UnknownEnvError as exc:
        raise GenerationError(str(exc)) from None
    loader = OmegaConfigLoader(str(project / "conf"), env=env, **CONFIG_LOADER_ARGS)
    return str(loader["globals"].get("data_root", "data"))


def console() -> click.Group:
    """The ``cemap`` command group: Kedro's ``run`` beside the project commands."""
    return click.Group(
        "cemap",
        commands={"run": run, "generate": generate, "kfp": kfp},
        context_settings=CONTEXT_SETTINGS,
        help="CEMap: `cemap run` runs the Kedro pipelines (as `kedro run`); `cemap generate` "
        "generates from a sentence or a recording.",
    )


def main(*args, **kwargs):
    """The ``cemap`` console script (pyproject ``[project.scripts]``)."""
    from kedro.framework.project import configure_project

    configure_project(Path(__file__).parent.name)
    return console().main(*args, **kwargs)
