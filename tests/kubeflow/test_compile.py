"""`kedro kfp compile`: the KFP v2 YAML has one task per Kedro node (or pipeline), Kedro's edges,
the right `kedro run` per task, GPU requests when asked, and refuses in-memory hand-offs."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from kedro.framework.startup import bootstrap_project

from cemap.kubeflow.plan import MemoryHandoffError
from cemap.kubeflow.project import compile_project_pipeline
from cemap.pipeline_registry import OPT_IN
from tests.conftest import PROJECT_ROOT, make_project_copy
from tests.kubeflow.kfp_yaml import PARAMS_PLACEHOLDER, load_compiled

pytest.importorskip("kfp")  # in the `test` extra, so this runs in CI

IMAGE = "registry.example.com/cemap:test"
# find_pipelines registers every package under cemap/pipelines: parametrise without importing them.
PIPELINE_DIRS = sorted(
    p.parent.name for p in (PROJECT_ROOT / "src/cemap/pipelines").glob("*/pipeline.py")
)


@pytest.fixture(scope="module")
def registry():
    bootstrap_project(PROJECT_ROOT)
    from kedro.framework.project import pipelines

    return dict(pipelines)


def _edges(tasks, flag):
    by_name = {task.option(flag): task for task in tasks.values()}
    name_of = {task.key: name for name, task in by_name.items()}
    return by_name, {name: {name_of[key] for key in t.after} for name, t in by_name.items()}


def test_every_pipeline_package_is_registered(registry):
    assert set(registry) == {"__default__", *PIPELINE_DIRS}


@pytest.mark.parametrize("name", ["__default__", *PIPELINE_DIRS])
def test_one_task_per_node_with_kedro_edges_and_commands(name, registry, tmp_path):
    pipeline = registry[name]
    compiled = compile_project_pipeline(
        PROJECT_ROOT,
        pipeline_names=[name],
        image=IMAGE,
        output=tmp_path / "pipeline.yaml",
        params="some.value=3",
        runtime_params={"some": {"value": 3}},
    )
    spec, tasks = load_compiled(compiled.output)

    by_node, edges = _edges(tasks, "--nodes")
    assert len(tasks) == len(pipeline.nodes)
    assert set(by_node) == {node.name for node in pipeline.nodes}
    assert edges == {
        node.name: {parent.name for parent in parents}
        for node, parents in pipeline.node_dependencies.items()
    }
    for node, task in by_node.items():
        assert task.command == (
            "kedro",
            "run",
            f"--pipelines={name}",
            f"--nodes={node}",
            "--env=cloud",
            "--params",
            PARAMS_PLACEHOLDER,
        )
        assert task.image == IMAGE and task.display_name == node
        assert not task.caching  # data moves through storage KFP cannot see
    default_gpu = {n.name for n in pipeline.nodes if "training" in n.tags}
    assert {node for node, task in by_node.items() if task.accelerator} == default_gpu
    kedro_params = spec["root"]["inputDefinitions"]["parameters"]["kedro_params"]
    assert kedro_params["defaultValue"] == "some.value=3"


@pytest.mark.parametrize("name", PIPELINE_DIRS)
def test_gpu_requests_go_to_the_named_nodes_only(name, registry, tmp_path):
    nodes = [node.name for node in registry[name].nodes]
    wanted = {n for n in nodes if "train" in n} or {nodes[0]}
    compiled = compile_project_pipeline(
        PROJECT_ROOT,
        pipeline_names=[name],
        image=IMAGE,
        output=tmp_path / "pipeline.yaml",
        gpu_selectors=sorted(wanted),
        require_gpu_match=True,
        accelerator_count=2,
    )
    _, tasks = load_compiled(compiled.output)
    requests = {t.option("--nodes"): t.accelerator for t in tasks.values() if t.accelerator}
    assert set(requests) == wanted
    for accelerator in requests.values():
        assert accelerator["resourceType"] == "nvidia.com/gpu"
        assert accelerator["resourceCount"] == "2"


def test_gpu_selectors_matching_nothing_are_an_error_and_some_a_warning(tmp_path):
    with pytest.raises(ValueError, match="--gpu-nodes no_such_node matches no node name or tag"):
        compile_project_pipeline(
            PROJECT_ROOT,
            pipeline_names=["data_generation"],
            image=IMAGE,
            output=tmp_path / "p.yaml",
            gpu_selectors=["no_such_node"],
            require_gpu_match=True,
        )
    # One list for several pipelines: names from the others are reported, not fatal.
    compiled = compile_project_pipeline(
        PROJECT_ROOT,
        pipeline_names=["data_generation"],
        image=IMAGE,
        output=tmp_path / "p.yaml",
        gpu_selectors=["compose_images", "no_such_node"],
        require_gpu_match=True,
    )
    assert [s.name for s in compiled.steps if s.gpu] == ["compose_images"]
    assert compiled.unmatched_gpu_selectors == ("no_such_node",)


def test_group_by_pipeline_gives_one_task_per_registered_pipeline(registry, tmp_path):
    compiled = compile_project_pipeline(
        PROJECT_ROOT,
        pipeline_names=["__default__"],
        image=IMAGE,
        output=tmp_path / "pipeline.yaml",
        group_by="pipeline",
    )
    _, tasks = load_compiled(compiled.output)
    by_pipeline, edges = _edges(tasks, "--pipelines")
    default = [name for name in PIPELINE_DIRS if name not in OPT_IN]  # kedro run's pipelines
    assert set(by_pipeline) == set(default)

    def base(dataset):
        return dataset.split("@")[0]

    outputs = {n: {base(o) for o in registry[n].all_outputs()} for n in default}
    inputs = {n: {base(i) for i in registry[n].all_inputs()} for n in default}
    assert edges == {
        b: {a for a in default if a != b and inputs[b] & (outputs[a] - outputs[b])} for b in default
    }
    for name, task in by_pipeline.items():
        assert task.command == (
            "kedro",
            "run",
            f"--pipelines={name}",
            "--env=cloud",
            "--params",
            PARAMS_PLACEHOLDER,
        )


def test_in_memory_handoff_fails_compilation_naming_it(registry, tmp_path):
    project = make_project_copy(tmp_path / "project")
    (project / "conf/cloud/catalog_data_generation.yml").unlink()
    with pytest.raises(MemoryHandoffError) as error:
        compile_project_pipeline(
            project,
            pipeline_names=["data_generation"],
            image=IMAGE,
            output=tmp_path / "pipeline.yaml",
        )
    assert [h.dataset for h in error.value.handoffs] == ["source_digits"]
    assert error.value.handoffs[0].producers == ("load_source_digits",)
    assert not (tmp_path / "pipeline.yaml").exists()
    # One pod per pipeline: source_digits never leaves data_generation's pod.
    compile_project_pipeline(
        project,
        pipeline_names=["data_generation"],
        image=IMAGE,
        output=tmp_path / "grouped.yaml",
        group_by="pipeline",
    )


def test_cli_compiles_with_options_and_reports_handoffs(registry, tmp_path):
    from cemap.cli import cli

    project = make_project_copy(tmp_path / "project")
    metadata = bootstrap_project(project)
    runner = CliRunner()
    output = tmp_path / "pipeline.yaml"
    args = ["kfp", "compile", "--pipelines=data_generation", "--image", IMAGE, "-o", str(output)]
    result = runner.invoke(
        cli,
        [
            *args,
            "--params",
            "data_generation.seed=7,data_generation.n_examples=2",
            "--gpu-nodes",
            "compose_images",
            "--mlflow-tracking-uri",
            "https://mlflow.example.com",
            "--env-var",
            "AWS_ENDPOINT_URL=http://minio:9000",
        ],
        obj=metadata,
    )
    assert result.exit_code == 0, result.output
    assert "5 task(s), one per node" in result.output
    assert "s3://cemap-bucket/cemap" in result.output
    spec, tasks = load_compiled(output)
    assert spec["pipelineInfo"]["name"] == "cemap-data-generation"
    kedro_params = spec["root"]["inputDefinitions"]["parameters"]["kedro_params"]
    assert kedro_params["defaultValue"] == "data_generation.seed=7,data_generation.n_examples=2"
    for task in tasks.values():
        assert task.env == {
            "MLFLOW_TRACKING_URI": "https://mlflow.example.com",
            "AWS_ENDPOINT_URL": "http://minio:9000",
        }
        assert bool(task.accelerator) == (task.option("--nodes") == "compose_images")

    # Parameters are validated now, as `kedro run` would in every pod.
    bad = runner.invoke(
        cli, [*args, "--params", "data_generation.speech.backend=festival"], obj=metadata
    )
    assert bad.exit_code != 0 and "festival" in str(bad.output) + str(bad.exception)

    (project / "conf/cloud/catalog_data_generation.yml").unlink()
    failed = runner.invoke(cli, [*args, "-o", str(tmp_path / "no.yaml")], obj=metadata)
    assert failed.exit_code == 1
    assert "Error: Kubeflow runs every step in its own pod" in failed.output
    assert (
        "source_digits (written by load_source_digits; read by plan_dataset, compose_images)"
        in (failed.output)
    )


def test_kedro_finds_the_kfp_commands_and_run_still_works():
    from kedro.framework.cli.cli import KedroCLI
    from kedro.framework.cli.project import run as kedro_run
    from kedro.framework.cli.utils import find_run_command

    from cemap.cli import cli, run

    groups = KedroCLI(project_path=PROJECT_ROOT).project_groups
    assert groups[0] is cli and "compile" in cli.commands["kfp"].commands
    assert cli.commands["run"] is run  # the project's run: Kedro's, checked first
    assert {p.name for p in kedro_run.params} < {p.name for p in run.params}
    assert find_run_command("cemap") is run  # `python -m cemap` / `cemap`


def test_kfp_is_imported_only_to_compile(monkeypatch, tmp_path):
    probe = (
        "import sys, cemap.cli, cemap.kubeflow.project\n"
        "assert 'kfp' not in sys.modules, 'kfp imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=PROJECT_ROOT, timeout=120)

    from cemap.kubeflow import compiler

    monkeypatch.setitem(sys.modules, "kfp", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[kubeflow\]'"):
        compiler.compile_kfp_pipeline([], compiler.KfpOptions("i", "cloud", "x"), tmp_path / "p")


def test_output_folder_is_created(registry, tmp_path):
    output = tmp_path / "nested" / "dir" / "pipeline.yaml"
    compile_project_pipeline(
        PROJECT_ROOT, pipeline_names=["data_generation"], image=IMAGE, output=output
    )
    assert Path(output).is_file()
