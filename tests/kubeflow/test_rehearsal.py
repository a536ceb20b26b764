"""`kedro kfp rehearse`: the compiled smoke pipeline run by the KFP engine's own local runner
(kfp.local.DockerRunner, one container per task) against S3 and MLflow servers on 127.0.0.1.

The pieces that need no Docker are tested offline; the rehearsal itself runs when a Docker
engine answers (CI starts one when it can: .ci/run) and is skipped, saying why, when none does.
Where the image comes from (the build's network cannot always reach Docker Hub or PyPI):
CEMAP_REHEARSAL_BASE names a local base image (scripts/debian-base-image.sh) and
CEMAP_REHEARSAL_WHEELHOUSE a folder the build's packages are downloaded to and served from.
"""

import os
from pathlib import Path

import pytest
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT

pytest.importorskip("kfp")  # in the `test` extra, so this runs in CI

from cemap.kubeflow import rehearsal  # noqa: E402
from cemap.kubeflow.rehearsal import RehearsalError  # noqa: E402

KFP_OUTPUT = """\
12:00:01.100 - INFO - Running pipeline: \x1b[95m'cemap-x'\x1b[0m
12:00:01.200 - INFO - Executing task \x1b[96m'kedro-load-source-digits'\x1b[0m
12:00:01.300 - INFO - Streamed logs:

    Found image 'cemap:rehearsal:latest'

    [12/01/26 12:00:03] INFO     Loading data from params:data_generation
    [12/01/26 12:00:05] INFO     Pipeline execution completed successfully.
12:00:06.200 - INFO - Task \x1b[96m'kedro-load-source-digits'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m
12:00:06.300 - INFO - Executing task \x1b[96m'kedro-plan-dataset'\x1b[0m
12:00:06.400 - INFO - Streamed logs:

    [12/01/26 12:00:08] INFO     Loading data from source_digits (PickleDataset)...
    ╭───── Traceback (most recent call last) ─────╮
    PermissionError: The AWS Access Key Id you provided does not exist in our records.
12:00:09.900 - ERROR - Task \x1b[96m'kedro-plan-dataset'\x1b[0m finished with status \x1b[91mFAILURE\x1b[0m
"""


def test_engine_output_gives_each_task_its_status_time_and_log():
    tasks = rehearsal._parse_tasks(KFP_OUTPUT)
    assert [(name, status) for name, status, _, _ in tasks] == [
        ("kedro-load-source-digits", "SUCCESS"),
        ("kedro-plan-dataset", "FAILURE"),
    ]
    assert tasks[0][2] == pytest.approx(5.0)
    assert "Pipeline execution completed successfully." in tasks[0][3]
    assert "source_digits" not in tasks[0][3]  # logs stay with their task
    failed = rehearsal.TaskResult(*tasks[1][:2], tasks[1][2], 1, tasks[1][3])
    assert not failed.ok
    assert failed.first_error_line() == (
        "PermissionError: The AWS Access Key Id you provided does not exist in our records."
    )


def test_first_error_line_prefers_the_first_line_naming_an_error():
    log = (
        "INFO starting\nWARNING slow\nbotocore.exceptions.ClientError: SignatureDoesNotMatch\nmore"
    )
    task = rehearsal.TaskResult("t", "FAILURE", 1.0, 1, log)
    assert task.first_error_line() == "botocore.exceptions.ClientError: SignatureDoesNotMatch"
    # A container gone before KFP read its status: Docker's exit code still decides.
    assert not rehearsal.TaskResult("t", "SUCCESS", 1.0, 3, "").ok


@pytest.fixture(scope="module")
def registry():
    bootstrap_project(PROJECT_ROOT)
    from kedro.framework.project import pipelines

    return dict(pipelines)


def test_smoke_size_passes_conf_smoke_as_single_key_params(registry):
    params = rehearsal.size_params(PROJECT_ROOT, "smoke", registry["data_generation"])
    pairs = dict(item.split("=", 1) for item in params.split(","))
    assert pairs["data_generation.sizes.train"] == "240"
    assert pairs["data_generation.n_examples"] == "4"
    # only what the pipeline's nodes read
    assert not any(key.startswith(("embeddings.", "joint_latent.")) for key in pairs)
    full = rehearsal.size_params(PROJECT_ROOT, "smoke", registry["__default__"])
    assert "joint_latent.training.epochs=3" in full.split(",")
    assert rehearsal.size_params(PROJECT_ROOT, "full", registry["__default__"]) == ""


def test_list_parameters_are_refused_with_the_key(tmp_path, registry):
    (tmp_path / "conf/tiny").mkdir(parents=True)
    (tmp_path / "conf/tiny/parameters.yml").write_text("benchmark:\n  seeds: [0, 1]\n")
    with pytest.raises(RehearsalError, match=r"benchmark.seeds=\[0, 1\] cannot travel"):
        rehearsal._flatten("", {"a": 1}, {})  # flattening alone is fine
        rehearsal._param_text("benchmark.seeds", [0, 1])


def test_data_root_must_be_an_s3_url():
    assert rehearsal._split_s3("s3://cemap-bucket/cemap") == ("cemap-bucket", "cemap")
    with pytest.raises(RehearsalError, match=r"'file:///tmp/b'.*s3://<bucket>/<prefix>"):
        rehearsal._split_s3("file:///tmp/b")


def test_mlflow_expectations_follow_the_cloud_catalog(registry):
    from cemap.kubeflow.plan import node_steps
    from cemap.kubeflow.project import load_env_catalog

    catalog, _ = load_env_catalog(PROJECT_ROOT, "cloud")
    steps = node_steps(registry["__default__"])
    expected = rehearsal.mlflow_expectations(catalog, steps)
    assert len(expected) == len(steps)
    assert expected[("load_source_digits",)] == set()
    assert expected[("image.plot_reconstructions",)] == {"artifacts"}
    assert expected[("collect_metrics",)] == {"metrics", "artifacts"}
    assert rehearsal._registered_model_names(catalog, steps) == ["cemap-text-speech-to-image"]


# --- the rehearsal itself, when Docker is there -------------------------------------------


@pytest.fixture(scope="module")
def docker_engine():
    try:
        return rehearsal.docker_client()
    except RehearsalError as exc:
        pytest.skip(str(exc))  # "Docker engine not reachable (...). Start it ..."


def _build_options() -> dict:
    base = os.environ.get("CEMAP_REHEARSAL_BASE")
    wheelhouse = os.environ.get("CEMAP_REHEARSAL_WHEELHOUSE")
    return {
        # A local base has no PyTorch CPU index to reach: PyPI's (CUDA) wheel, run on CPU.
        "build_args": {"BASE": base, "TORCH_INDEX_URL": ""} if base else {},
        "wheelhouse": Path(wheelhouse) if wheelhouse else None,
    }


@pytest.mark.e2e
def test_rehearsal_runs_the_smoke_pipeline_in_containers_and_finds_everything(
    docker_engine, tmp_path
):
    # One task per pipeline (4 containers) keeps the suite's time bounded; one task per node
    # (36 containers) runs the same checks with `kedro kfp rehearse --size smoke`.
    lines = []
    report = rehearsal.rehearse(
        PROJECT_ROOT,
        pipeline_names=["__default__"],
        size="smoke",
        group_by="pipeline",
        workdir=tmp_path / "run",
        echo=lines.append,
        **_build_options(),
    )
    tasks = ["data_generation", "embeddings", "joint_latent", "evaluation"]
    assert [task.status for task in report.tasks] == ["SUCCESS"] * len(tasks)
    assert report.containers == len(tasks)  # one container per task, counted by Docker
    assert {task.exit_code for task in report.tasks} == {0}
    assert report.problems == []
    assert "metadata" in report.datasets and "speech_features" in report.datasets
    assert len(report.runs) == len(tasks)
    assert all(run["in_bucket"] == run["artifacts"] for run in report.runs)
    assert sum(run["metrics"] for run in report.runs) > 0
    assert set(report.models) == {"cemap-text-speech-to-image"}
    # everything it started is stopped
    assert any(line.startswith("stopped S3 server") for line in lines)
    assert any(line.startswith("stopped MLflow server") for line in lines)
    assert not docker_engine.containers.list(filters={"label": "cemap.rehearsal"})


@pytest.mark.e2e
def test_a_task_with_a_wrong_bucket_key_fails_the_rehearsal_naming_it(docker_engine, tmp_path):
    with pytest.raises(RehearsalError) as failure:
        rehearsal.rehearse(
            PROJECT_ROOT,
            pipeline_names=["data_generation"],
            size="smoke",
            build=False,  # the image of the test above
            task_env={"AWS_SECRET_ACCESS_KEY": "not-the-key"},
            workdir=tmp_path / "run",
            echo=lambda line: None,
        )
    message = str(failure.value)
    assert message.startswith("Task kedro-load-source-digits failed (status FAILURE, exit code 1)")
    assert "Signature" in message.splitlines()[0]
    assert (tmp_path / "run" / "kedro-load-source-digits.log").is_file()
