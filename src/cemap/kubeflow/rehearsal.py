"""``kedro kfp rehearse``: the compiled pipeline run by KFP's own local engine on one machine.

What a Kubeflow run needs, served on 127.0.0.1: an S3 API (moto's server, with IAM checks on,
so a task without the right key fails as it would on S3 or MinIO) holding the ``cloud`` env's
``data_root`` bucket, and an MLflow tracking server whose artifact store is a bucket of that
same S3 server. The pipeline YAML ``kedro kfp compile`` writes is loaded back and run by
``kfp.local.DockerRunner``: each task in its own container of the project image, host
networking, in dependency order. Then it checks what the run left: each task's exit status,
every persisted dataset in the bucket, the MLflow runs with their metrics and artifacts (in the
artifact bucket, not on this disk), and each registered model, loaded back from the server.

Needs Docker and ``pip install -e '.[kubeflow]'`` (kfp, docker, moto[server], boto3, s3fs).
Everything it starts (the two servers, the wheelhouse server, task containers) stops when it
returns, also on failure or Ctrl-C.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import http.server
import io
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cemap.kubeflow.compiler import kfp_pipeline_name
from cemap.kubeflow.plan import GroupBy, is_parameter

SIZES = ("smoke", "full")
DEFAULT_IMAGE = "cemap:rehearsal"
MLFLOW_BUCKET = "cemap-mlflow"
WHEELHOUSE_PORT = 18765
REGION = "us-east-1"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# An exception as Python prints it last in a traceback ("botocore.exceptions.ClientError: ..."),
# then a line logged at ERROR level or a CLI's "Error: ...".
_EXCEPTION_LINE = re.compile(
    r"^[\s│|]*(?:[A-Za-z_][\w.]*(?:Error|Exception)|KeyboardInterrupt)(?::|$)"
)
_ERROR_LINE = re.compile(r"\bERROR\b|^\s*Error: ")

_MISSING = (
    "The rehearsal needs the `kubeflow` extra ({missing} not importable). "
    "Install it with: pip install -e '.[kubeflow]'"
)

Echo = Callable[[str], None]


class RehearsalError(RuntimeError):
    """The rehearsal could not run or a check failed; the message says which and why."""


@dataclass(frozen=True)
class TaskResult:
    """One task as the KFP engine ran it, with what Docker says its container exited with."""

    name: str
    status: str
    seconds: float
    exit_code: int | None
    log: str

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS" and self.exit_code in (0, None)

    def first_error_line(self) -> str:
        """The first exception line of the log, else its first ERROR line, else its last line."""
        lines = [line.strip(" │|\t") for line in self.log.splitlines() if line.strip(" │|\t")]
        for pattern in (_EXCEPTION_LINE, _ERROR_LINE):
            for line in lines:
                if pattern.search(line):
                    return line
        return lines[-1] if lines else "(no log output)"


@dataclass
class RehearsalReport:
    """What ``rehearse`` found; ``problems`` empty means every check passed."""

    workdir: Path
    tasks: list[TaskResult] = field(default_factory=list)
    containers: int = 0
    datasets: dict[str, int] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    image_size: int | None = None
    pipeline_seconds: float = 0.0


# --- prerequisites ------------------------------------------------------------------------


def _require_extra() -> None:
    missing = []
    for module in ("kfp", "docker", "moto", "boto3", "s3fs"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise RehearsalError(_MISSING.format(missing=", ".join(missing)))


def docker_client():
    """A client of the local Docker engine, or ``RehearsalError`` saying why there is none."""
    try:
        import docker
    except ImportError as exc:
        raise RehearsalError(_MISSING.format(missing="docker")) from exc
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        raise RehearsalError(
            f"Docker engine not reachable ({exc}). Start it (as root: `dockerd &`, after "
            f"`apt-get install docker.io`) or point DOCKER_HOST at a running one."
        ) from exc
    return client


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RehearsalError(f"{url} exited with {process.returncode} at start:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RehearsalError(f"{url} did not answer within {timeout:.0f} s; see {log}.")


def _stop(process: subprocess.Popen, name: str, echo: Echo) -> None:
    """Stop a server started with ``start_new_session``: its process group, by its PID."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
    echo(f"stopped {name} (pid {process.pid})")


# --- the servers --------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Server:
    url: str
    access_key: str
    secret_key: str

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
        )

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(
            key=self.access_key,
            secret=self.secret_key,
            endpoint_url=self.url,
            client_kwargs={"region_name": REGION},
        )

    @property
    def env(self) -> dict[str, str]:
        """What s3fs, boto3 and MLflow need to reach this server (endpoint and keys)."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "MLFLOW_S3_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
        }


def _clean_env() -> dict[str, str]:
    """This process's environment without AWS/MLflow settings that would point elsewhere."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "MLFLOW_", "BOTO")) and k != "CEMAP_MLFLOW_TRACKING_URI"
    }


@contextlib.contextmanager
def s3_server(workdir: Path, buckets: Sequence[str], echo: Echo) -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 with IAM authentication on, and one user's key for it.

    moto accepts any key until ``INITIAL_NO_AUTH_ACTION_COUNT`` requests have been served: the
    first three create the user, its policy and its key; every later request must be signed
    with that key.
    """
    import boto3

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "moto.log"
    env = {**_clean_env(), "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        _wait_http(f"{url}/moto-api/", process, log, timeout=60)
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
            region_name=REGION,
        )
        iam.create_user(UserName="cemap")
        iam.put_user_policy(
            UserName="cemap",
            PolicyName="cemap-s3",
            PolicyDocument='{"Version": "2012-10-17", "Statement": '
            '[{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}',
        )
        key = iam.create_access_key(UserName="cemap")["AccessKey"]
        server = S3Server(url, key["AccessKeyId"], key["SecretAccessKey"])
        s3 = server.client()
        for bucket in buckets:
            s3.create_bucket(Bucket=bucket)
        echo(f"S3 (moto) on {url}, pid {process.pid}, buckets {', '.join(buckets)}")
        yield server
    finally:
        _stop(process, "S3 server", echo)


@contextlib.contextmanager
def mlflow_server(workdir: Path, s3: S3Server, echo: Echo) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1: runs in a sqlite file, artifacts proxied to S3."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "mlflow-server.log"
    artifacts = f"s3://{MLFLOW_BUCKET}/artifacts"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--artifacts-destination",
        artifacts,
        "--workers",
        "1",
    ]
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**_clean_env(), **s3.env},
            cwd=workdir,
            start_new_session=True,
        )
    try:
        _wait_http(f"{url}/health", process, log, timeout=180)
        echo(
            f"MLflow on {url}, pid {process.pid}, runs in {workdir / 'mlflow.db'}, artifacts in {artifacts}"
        )
        yield url
    finally:
        _stop(process, "MLflow server", echo)


@contextlib.contextmanager
def wheelhouse_server(directory: Path, echo: Echo) -> Iterator[str]:
    """``directory`` over HTTP on 127.0.0.1, for ``pip --find-links`` in a host-network build."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    try:
        # One port every time: WHEELS_URL is a build argument, so a new URL would make the
        # build reinstall every package instead of reusing its cached layer.
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", WHEELHOUSE_PORT), handler)
    except OSError:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        echo(f"port {WHEELHOUSE_PORT} is taken: the build cannot reuse its package layer")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    echo(f"wheelhouse {directory} served on {url}")
    try:
        yield url
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


# --- the image ----------------------------------------------------------------------------


def fill_wheelhouse(project_path: Path, directory: Path, echo: Echo) -> None:
    """``pip download`` the image's packages (the project's, s3fs, the build backend)."""
    directory.mkdir(parents=True, exist_ok=True)
    echo(f"pip download into {directory} (packages already there are kept)")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--dest",
        str(directory),
        str(project_path),
        "s3fs",
        "setuptools>=68",
        "wheel",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RehearsalError(
            f"pip download into {directory} failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )


def build_image(
    client, project_path: Path, image: str, build_args: Mapping[str, str], echo: Echo, log: Path
) -> None:
    """``docker build --network host`` of the project's Dockerfile (classic builder API)."""
    import docker

    args = ", ".join(f"{k}={v}" for k, v in build_args.items()) or "defaults"
    echo(f"building {image} from {project_path / 'Dockerfile'} ({args}); log {log}")
    started = time.monotonic()
    with log.open("w") as out:
        try:
            for chunk in client.api.build(
                path=str(project_path),
                tag=image,
                buildargs=dict(build_args),
                network_mode="host",
                rm=True,
                forcerm=True,
                decode=True,
            ):
                if "stream" in chunk:
                    out.write(chunk["stream"])
                    if chunk["stream"].startswith("Step "):
                        echo("  " + chunk["stream"].strip()[:110])
                elif "error" in chunk:
                    out.write(chunk["error"])
                    out.flush()
                    tail = log.read_text(errors="replace")[-3000:]
                    raise RehearsalError(f"docker build of {image} failed:\n{tail}")
        except docker.errors.APIError as exc:
            raise RehearsalError(f"docker build of {image} failed: {exc}") from exc
    echo(f"built {image} in {time.monotonic() - started:.0f} s")


# --- what to run --------------------------------------------------------------------------


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = value


def _param_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = str(value)
    if isinstance(value, list | tuple) or "," in text:
        raise RehearsalError(
            f"Parameter {key}={value!r} cannot travel in `kedro run --params` (its items are "
            f"split at commas); leave it out of the size's parameter files or compile "
            f"without it."
        )
    return text


def size_params(project_path: Path, size: str, pipeline: Any) -> str:
    """``--params`` text giving ``pipeline`` the parameters of ``conf/<size>`` (``full``: none).

    Only the top-level keys the pipeline's nodes read are taken, each leaf as ``a.b.c=v``,
    so they override single keys of the cloud env's parameters (soft merge).
    """
    if size == "full":
        return ""
    if size not in SIZES:
        raise RehearsalError(f"Unknown size {size!r}; choose one of {', '.join(SIZES)}.")
    folder = Path(project_path) / "conf" / size
    used = {
        dataset.split(":", 1)[1].split(".", 1)[0]
        for node in pipeline.nodes
        for dataset in node.inputs
        if dataset.startswith("params:")
    }
    reads_all = any("parameters" in node.inputs for node in pipeline.nodes)
    flat: dict[str, Any] = {}
    for path in sorted(folder.glob("parameters*.yml")):
        for key, value in (yaml.safe_load(path.read_text()) or {}).items():
            if reads_all or key in used:
                _flatten(key, value, flat)
    return ",".join(f"{key}={_param_text(key, value)}" for key, value in flat.items())


def _split_s3(url: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", url or "")
    if not match:
        raise RehearsalError(
            f"The rehearsal serves an S3 API, but data_root in conf/cloud/globals.yml is "
            f"{url!r}. Set it to s3://<bucket>/<prefix> (e.g. s3://cemap-bucket/cemap); the "
            f"bucket is created on the local server, never on AWS."
        )
    return match.group(1), match.group(2).strip("/")


# --- running with kfp.local ---------------------------------------------------------------


class _Tee(io.TextIOBase):
    """Collects what the KFP engine prints (its log and the containers') and passes it on."""

    def __init__(self, log_file, verbose: bool) -> None:
        self.buffer_ = io.StringIO()
        self._line = ""
        self._out = sys.stdout  # the stream before redirect_stdout replaces it with this one
        self._log = log_file
        self._verbose = verbose

    def write(self, text: str) -> int:
        self.buffer_.write(text)
        self._log.write(text)
        self._log.flush()
        self._line += text
        while "\n" in self._line:
            line, self._line = self._line.split("\n", 1)
            plain = _ANSI.sub("", line)
            if self._verbose:
                self._out.write(plain + "\n")
            elif " - INFO - Executing task " in plain or "finished with status" in plain:
                self._out.write("  " + plain.split(" - ", 2)[-1] + "\n")
            self._out.flush()
        return len(text)

    def flush(self) -> None:
        self._log.flush()


def _parse_tasks(text: str) -> list[tuple[str, str, float, str]]:
    """(task, status, seconds, log) for each task in the KFP engine's output, in run order."""
    stamp = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d+) - \w+ - (.*)$")
    results = []
    current: dict[str, Any] | None = None
    for raw in _ANSI.sub("", text).splitlines():
        match = stamp.match(raw)
        message = match.group(5) if match else None
        seconds = (
            int(match.group(1)) * 3600
            + int(match.group(2)) * 60
            + int(match.group(3))
            + float("0." + match.group(4))
            if match
            else None
        )
        if message and message.startswith("Executing task "):
            current = {"name": message.split("'")[1], "start": seconds, "lines": []}
        elif message and current and "finished with status" in message:
            elapsed = (seconds - current["start"]) % 86400
            results.append(
                (current["name"], message.rsplit(" ", 1)[-1], elapsed, "\n".join(current["lines"]))
            )
            current = None
        elif current is not None and not match:
            current["lines"].append(raw[4:] if raw.startswith("    ") else raw)
    if current is not None:  # interrupted mid-task
        results.append((current["name"], "UNFINISHED", 0.0, "\n".join(current["lines"])))
    return results


def run_compiled_pipeline(
    pipeline_yaml: Path,
    *,
    environment: Mapping[str, str],
    workdir: Path,
    echo: Echo,
    client,
    verbose: bool = False,
) -> tuple[list[TaskResult], int]:
    """Run ``pipeline_yaml`` with ``kfp.local.DockerRunner`` (host network); tasks and containers.

    The YAML is loaded as a component, as it is uploaded to Kubeflow, and called after
    ``kfp.local.init``, which executes its DAG locally: one container per task, in dependency
    order, a failed task stopping the run. ``environment`` (the secrets a cluster would give
    the pods) is added to every container. Exit codes come from Docker's own events, so a
    container that is gone before KFP asks for its status still counts as it exited.
    """
    from kfp import components, local

    label = f"cemap-rehearsal-{uuid.uuid4().hex[:8]}"
    local.init(
        runner=local.DockerRunner(
            network_mode="host",
            environment=dict(environment),
            labels={"cemap.rehearsal": label},
            # Kubernetes runs a task's `command` in place of the image's ENTRYPOINT (`kedro`);
            # Docker would append it to the entrypoint. `env` runs the command as it is.
            entrypoint=["/usr/bin/env"],
        ),
        pipeline_root=str(workdir / "kfp-outputs"),
        raise_on_error=False,
    )
    pipeline = components.load_component_from_file(str(pipeline_yaml))
    since = int(time.time()) - 1
    log_path = workdir / "tasks.log"
    with log_path.open("w") as log_file:
        tee = _Tee(log_file, verbose)
        try:
            with contextlib.redirect_stdout(tee):
                pipeline()
        finally:
            for container in client.containers.list(filters={"label": f"cemap.rehearsal={label}"}):
                with contextlib.suppress(Exception):
                    container.stop(timeout=5)
    exits = []
    for event in client.events(
        since=since,
        until=int(time.time()) + 1,
        filters={"type": "container", "event": "die", "label": f"cemap.rehearsal={label}"},
        decode=True,
    ):
        exits.append(int(event.get("Actor", {}).get("Attributes", {}).get("exitCode", -1)))
    parsed = _parse_tasks(tee.buffer_.getvalue())
    tasks = [
        TaskResult(name, status, seconds, exits[i] if i < len(exits) else None, log)
        for i, (name, status, seconds, log) in enumerate(parsed)
    ]
    return tasks, len(exits)


# --- the checks ---------------------------------------------------------------------------


def check_datasets(
    catalog, steps, s3: S3Server, echo: Echo, report: RehearsalReport, data_root: str
) -> None:
    """Every dataset a task wrote that the catalog persists at a path: present in the bucket."""
    from cemap.kubeflow.project import dataset_location, is_persisted

    fs = s3.filesystem()
    written = sorted({d for step in steps for d in step.outputs if not is_parameter(d)})
    for dataset in written:
        location = dataset_location(catalog, dataset) if is_persisted(catalog, dataset) else None
        if location is None:
            continue  # MLflow-only (metrics): checked with the runs
        if not location.startswith(data_root.rstrip("/") + "/"):
            report.problems.append(f"dataset {dataset} is at {location}, outside {data_root}")
            continue
        files = [p for p in fs.find(location) if not p.endswith("/")]
        if not files:
            report.problems.append(f"dataset {dataset}: nothing at {location}")
            echo(f"  MISSING {dataset}: {location}")
            continue
        size = sum(fs.size(p) for p in files)
        report.datasets[dataset] = len(files)
        suffix = f"{len(files)} files, " if len(files) > 1 else ""
        echo(f"  ok {dataset}: {location} ({suffix}{size:,} bytes)")


def _artifact_files(client, run_id: str, path: str | None = None) -> list[str]:
    files = []
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            files += _artifact_files(client, run_id, item.path)
        else:
            files.append(item.path)
    return files


def mlflow_expectations(catalog, steps) -> dict[tuple[str, ...], set[str]]:
    """For each step (by its nodes), what its MLflow run must hold: metrics, artifacts, both.

    From the catalog: kedro-mlflow metric datasets log metrics, artifact datasets and the
    served model log artifacts.
    """
    expected = {}
    for step in steps:
        kinds = set()
        for dataset in step.outputs:
            kind = str((catalog.config_resolver.resolve_pattern(dataset) or {}).get("type", ""))
            if "Mlflow" in kind and "Metric" in kind:
                kinds.add("metrics")
            elif "MlflowArtifactDataset" in kind:
                kinds.add("artifacts")
            elif kind.endswith("CrossModalModelDataset"):
                kinds.add("model")  # MLflow 3 keeps a logged model beside the run, not in it
        expected[tuple(sorted(step.nodes))] = kinds
    return expected


def check_mlflow(
    tracking_uri: str,
    s3: S3Server,
    experiment_name: str,
    expected: Mapping[tuple[str, ...], set[str]],
    expected_models: Sequence[str],
    echo: Echo,
    report: RehearsalReport,
    steps_by_name: Mapping[str, tuple[str, ...]] | None = None,
) -> None:
    """One run per task on the server, with the metrics and artifacts its datasets log (the
    artifacts in the server's S3 store), and each registered model, loaded from the server."""
    import mlflow

    steps_by_name = steps_by_name or {}
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        report.problems.append(f"no MLflow experiment {experiment_name!r} on {tracking_uri}")
        return
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    stored = {
        obj["Key"]
        for page in s3.client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=MLFLOW_BUCKET, Prefix="artifacts/")
        for obj in page.get("Contents", ())
    }
    logged_models: dict[str, int] = {}
    model_files: dict[str, int] = {}  # by model id and by "models:/<id>" (a version's source)
    for logged in client.search_logged_models(experiment_ids=[experiment.experiment_id]):
        logged_models[logged.source_run_id] = logged_models.get(logged.source_run_id, 0) + 1
        folder = f"artifacts/{experiment.experiment_id}/models/{logged.model_id}/"
        count = sum(key.startswith(folder) for key in stored)
        model_files[logged.model_id] = model_files[f"models:/{logged.model_id}"] = count
    echo(
        f"  experiment {experiment_name!r}: {len(runs)} runs; artifact root "
        f"{experiment.artifact_location} = s3://{MLFLOW_BUCKET}/artifacts/{experiment.experiment_id}"
    )
    seen: set[tuple[str, ...]] = set()
    for run in sorted(runs, key=lambda r: r.info.start_time):
        files = _artifact_files(client, run.info.run_id)
        prefix = f"artifacts/{experiment.experiment_id}/{run.info.run_id}/artifacts/"
        in_bucket = [f for f in files if prefix + f in stored]
        metrics = run.data.metrics
        models = logged_models.get(run.info.run_id, 0)
        node = re.sub(r"[()',]", " ", run.data.tags.get("node_names", run.info.run_name)).strip()
        node = ", ".join(node.split())
        report.runs.append(
            {
                "run_id": run.info.run_id,
                "node": node,
                "status": run.info.status,
                "metrics": len(metrics),
                "artifacts": len(files),
                "in_bucket": len(in_bucket),
                "models": models,
            }
        )
        shown = ", ".join(f"{k}={v:.3g}" for k, v in sorted(metrics.items())[:2])
        more = f", +{len(metrics) - 2}" if len(metrics) > 2 else ""
        parts = [f"{len(run.data.params)} params", f"{len(metrics)} metrics"]
        if metrics:
            parts[-1] += f" ({shown}{more})"
        parts.append(f"{len(files)} artifacts" + (f", {len(in_bucket)} in S3" if files else ""))
        if models:
            parts.append(f"{models} logged model")
        echo(f"  {run.info.status:<8} {node}: {'; '.join(parts)}")
        try:
            nodes = tuple(sorted(ast.literal_eval(run.data.tags.get("node_names", "()"))))
        except (ValueError, SyntaxError):
            nodes = ()
        if not nodes:  # a whole-pipeline task: its run is named "<pipeline> · <env> · <date>"
            nodes = steps_by_name.get(run.info.run_name.split(" · ", 1)[0], ())
        if nodes not in expected:
            report.problems.append(f"MLflow run {run.info.run_id} ({node}) matches no task")
        seen.add(nodes)
        wants = expected.get(nodes, set())
        if "metrics" in wants and not metrics:
            report.problems.append(f"MLflow run of {node} has no metric")
        if "artifacts" in wants and not files:
            report.problems.append(f"MLflow run of {node} has no artifact")
        if "model" in wants and not models:
            report.problems.append(f"MLflow run of {node} logged no model")
        if run.info.status != "FINISHED":
            report.problems.append(f"MLflow run {run.info.run_id} ({node}) is {run.info.status}")
        if len(in_bucket) != len(files):
            report.problems.append(
                f"MLflow run {run.info.run_id} ({node}): {len(files) - len(in_bucket)} "
                f"artifacts not in the server's S3 store"
            )
    if len(runs) != len(expected) or seen != set(expected):
        missing = [", ".join(nodes) for nodes in expected if nodes not in seen]
        report.problems.append(
            f"{len(runs)} MLflow runs on the server, expected one per task ({len(expected)})"
            + (f"; none for {'; '.join(missing)}" if missing else "")
        )

    for name in expected_models:
        versions = client.search_model_versions(f"name='{name}'")
        if not versions:
            report.problems.append(f"registered model {name!r} not on the server")
            echo(f"  MISSING registered model {name}")
            continue
        latest = max(versions, key=lambda v: int(v.version))
        uri = f"models:/{name}/{latest.version}"
        stored_files = model_files.get(latest.model_id or latest.source, 0)
        if not stored_files:
            report.problems.append(f"registered model {uri}: no files in the server's S3 store")
        previous = mlflow.get_tracking_uri()
        try:
            mlflow.set_tracking_uri(tracking_uri)
            with _proxied_downloads():
                model = mlflow.pyfunc.load_model(uri)
        except Exception as exc:
            report.problems.append(f"registered model {uri} does not load: {exc}")
            echo(f"  FAILED to load {uri}: {exc}")
            continue
        finally:
            mlflow.set_tracking_uri(previous)
        report.models[name] = latest.version
        python_model = model.unwrap_python_model()
        echo(
            f"  registered model {uri} ({latest.source}): {stored_files} files in "
            f"s3://{MLFLOW_BUCKET}/artifacts/{experiment.experiment_id}/models/, loaded from the "
            f"server as {type(python_model).__name__}"
        )


@contextlib.contextmanager
def _proxied_downloads() -> Iterator[None]:
    """Artifact downloads through the tracking server, not from presigned S3 URLs.

    The server offers presigned URLs for an S3 store; moto's server, with its IAM checks on,
    answers them with a 500 (it reads only the Authorization header), and MLflow retries for
    minutes. A real S3 or MinIO serves them; here the server streams the files instead.
    """
    settings = {
        "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # keep the report readable
    }
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _registered_model_names(catalog, steps) -> list[str]:
    names = set()
    for dataset in {d for step in steps for d in step.outputs}:
        config = catalog.config_resolver.resolve_pattern(dataset) or {}
        name = (config.get("save_args") or {}).get("registered_model_name")
        if name:
            names.add(name)
        elif config.get("type", "").endswith("CrossModalModelDataset"):
            from cemap.serving import REGISTERED_MODEL_NAME

            names.add(REGISTERED_MODEL_NAME)
    return sorted(names)


def _host_artifact_folders(*folders: Path) -> list[Path]:
    """MLflow's local artifact folders (``mlruns``, ``mlartifacts``) holding files."""
    found = []
    for folder in folders:
        for name in ("mlruns", "mlartifacts"):
            path = folder / name
            if path.is_dir() and any(p.is_file() for p in path.rglob("*")):
                found.append(path)
    return found


# --- the whole rehearsal ------------------------------------------------------------------


def rehearse(
    project_path: Path,
    *,
    pipeline_names: Sequence[str] = ("__default__",),
    size: str = "smoke",
    group_by: GroupBy = "node",
    image: str = DEFAULT_IMAGE,
    build: bool = True,
    build_args: Mapping[str, str] | None = None,
    wheelhouse: Path | None = None,
    task_env: Mapping[str, str] | None = None,
    workdir: Path | None = None,
    verbose: bool = False,
    echo: Echo = print,
) -> RehearsalReport:
    """Serve S3 and MLflow here, build the image, compile and run the pipeline, check it all.

    Raises ``RehearsalError`` when something cannot start, a task fails (naming it and the
    first error line of its log) or a check fails (listing every failed check).
    """
    _require_extra()
    from kedro.framework.startup import bootstrap_project

    from cemap.kubeflow.project import compile_project_pipeline, load_env_catalog, select_pipelines

    project_path = Path(project_path).resolve()
    bootstrap_project(project_path)
    client = docker_client()
    workdir = Path(workdir or tempfile.mkdtemp(prefix="cemap-rehearsal-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    report = RehearsalReport(workdir=workdir)
    names = list(dict.fromkeys(pipeline_names or ["__default__"]))
    try:
        pipeline, _ = select_pipelines(names, group_by)
    except ValueError as exc:
        raise RehearsalError(str(exc)) from exc
    params = size_params(project_path, size, pipeline)
    from omegaconf import OmegaConf

    runtime_params = (
        OmegaConf.to_container(OmegaConf.from_dotlist(params.split(","))) if params else {}
    )
    catalog, globals_ = load_env_catalog(project_path, "cloud", runtime_params)
    data_root = str(globals_.get("data_root", ""))
    data_bucket, _ = _split_s3(data_root)
    if data_bucket == MLFLOW_BUCKET:
        raise RehearsalError(
            f"data_root {data_root} uses the bucket the rehearsal keeps for MLflow artifacts "
            f"({MLFLOW_BUCKET}); choose another bucket name in conf/cloud/globals.yml."
        )
    echo(
        f"work folder {workdir}; pipelines {', '.join(names)}, size {size}, one task per {group_by}"
    )
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        s3 = stack.enter_context(s3_server(workdir, [data_bucket, MLFLOW_BUCKET], echo))
        tracking_uri = stack.enter_context(mlflow_server(workdir, s3, echo))

        if build:
            args = dict(build_args or {})
            if wheelhouse is not None:
                fill_wheelhouse(project_path, Path(wheelhouse), echo)
                args["WHEELS_URL"] = stack.enter_context(wheelhouse_server(Path(wheelhouse), echo))
            build_image(client, project_path, image, args, echo, workdir / "build.log")
        try:
            report.image_size = client.images.get(image).attrs.get("Size")
        except Exception as exc:
            raise RehearsalError(
                f"Image {image} not found ({exc}); run without --no-build to build it."
            ) from exc
        echo(f"image {image}: {report.image_size / 1e9:.2f} GB")

        output = workdir / "pipeline.yaml"
        try:
            compiled = compile_project_pipeline(
                project_path,
                pipeline_names=names,
                image=image,
                output=output,
                env="cloud",
                group_by=group_by,
                gpu_selectors=(),
                params=params,
                runtime_params=runtime_params,
                pipeline_name=kfp_pipeline_name(f"cemap-rehearsal-{'-'.join(names)}"),
                env_vars={
                    # what `kedro kfp compile --mlflow-tracking-uri ... --env-var ...` writes
                    "MLFLOW_TRACKING_URI": tracking_uri,
                    "AWS_ENDPOINT_URL": s3.url,
                    "AWS_DEFAULT_REGION": REGION,
                    "COLUMNS": "200",  # one log record per line in the task logs
                    # moto cannot check presigned URLs (see _proxied_downloads)
                    "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
                },
            )
        except ValueError as exc:
            raise RehearsalError(str(exc)) from exc
        echo(f"compiled {output}: {len(compiled.steps)} tasks, data under {data_root}")

        # The secrets a cluster gives its pods (a Kubernetes secret): never in the YAML.
        secrets = {
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            **dict(task_env or {}),
        }
        echo(
            f"running with kfp.local.DockerRunner(network_mode='host'); task logs in {workdir / 'tasks.log'}"
        )
        pipeline_started = time.monotonic()
        tasks, containers = run_compiled_pipeline(
            output, environment=secrets, workdir=workdir, echo=echo, client=client, verbose=verbose
        )
        report.tasks, report.containers = tasks, containers
        report.pipeline_seconds = time.monotonic() - pipeline_started
        echo(f"\nTasks ({len(tasks)} of {len(compiled.steps)} ran, {containers} containers):")
        for task in tasks:
            exit_text = "?" if task.exit_code is None else str(task.exit_code)
            echo(f"  {task.status:<8} exit {exit_text:<3} {task.seconds:6.1f} s  {task.name}")
        failed = [task for task in tasks if not task.ok]
        if failed:
            first = failed[0]
            (workdir / f"{first.name}.log").write_text(first.log)
            raise RehearsalError(
                f"Task {first.name} failed (status {first.status}, exit code "
                f"{first.exit_code}): {first.first_error_line()}\n"
                f"Its log: {workdir / (first.name + '.log')}; all tasks: {workdir / 'tasks.log'}."
            )
        if len(tasks) != len(compiled.steps):
            raise RehearsalError(
                f"{len(tasks)} of {len(compiled.steps)} tasks ran; see {workdir / 'tasks.log'}."
            )
        if containers != len(tasks):
            report.problems.append(
                f"Docker saw {containers} containers exit for {len(tasks)} tasks"
            )

        echo(f"\nDatasets in s3://{data_bucket} (the S3 server on {s3.url}):")
        check_datasets(catalog, compiled.steps, s3, echo, report, data_root)
        echo(f"\nMLflow ({tracking_uri}):")
        mlflow_conf = _experiment_name(project_path)
        check_mlflow(
            tracking_uri,
            s3,
            mlflow_conf,
            expected=mlflow_expectations(catalog, compiled.steps),
            expected_models=_registered_model_names(catalog, compiled.steps),
            echo=echo,
            report=report,
            steps_by_name={step.name: tuple(sorted(step.nodes)) for step in compiled.steps},
        )
        local_artifacts = _host_artifact_folders(project_path, workdir)
        if local_artifacts:
            report.problems.append(
                f"MLflow artifacts on this disk ({', '.join(map(str, local_artifacts))}), "
                f"not only in the server's store"
            )
        checks = time.monotonic() - pipeline_started - report.pipeline_seconds
        echo(
            f"\npipeline {report.pipeline_seconds:.0f} s ({containers} containers), checks "
            f"{checks:.0f} s, all {time.monotonic() - started:.0f} s with servers and build"
        )
    if report.problems:
        listing = "\n".join(f"  - {p}" for p in report.problems)
        raise RehearsalError(f"{len(report.problems)} check(s) failed:\n{listing}")
    return report


def _experiment_name(project_path: Path) -> str:
    from kedro.framework.project import settings

    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(project_path / "conf"), env="cloud", **settings.CONFIG_LOADER_ARGS
    )
    loader.config_patterns["mlflow"] = ["mlflow*", "mlflow*/**", "**/mlflow*"]
    return loader["mlflow"]["tracking"]["experiment"]["name"]
