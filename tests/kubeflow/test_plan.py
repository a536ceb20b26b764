"""Kedro graph → Kubeflow steps: dependencies, GPU marking, the persistence check (no kfp needed)."""

import pytest
from kedro.pipeline import Node, Pipeline

from cemap.kubeflow.plan import (
    MemoryHandoffError,
    find_memory_handoffs,
    kedro_run_command,
    mark_gpu_steps,
    node_steps,
    pipeline_steps,
    step_dependencies,
)


def _f(*args):
    return args


def _prepare() -> Pipeline:
    return Pipeline(
        [
            Node(_f, "params:prep", "raw", name="load"),
            Node(_f, ["raw", "params:prep"], "table@pandas", name="clean"),
            Node(_f, ["raw", "table@pandas"], ["features", "report"], name="featurize"),
        ]
    )


def _train() -> Pipeline:
    return Pipeline(
        [
            Node(_f, ["features", "parameters"], "model", name="fit", tags=["training"]),
            Node(_f, ["model", "table@spark"], "scores", name="score"),
        ]
    )


def _names(dependencies):
    return {child: set(parents) for child, parents in dependencies.items()}


def test_node_steps_mirror_kedro_dependencies():
    pipeline = _prepare() + _train()
    steps = node_steps(pipeline)
    expected = {
        node.name: {parent.name for parent in parents}
        for node, parents in pipeline.node_dependencies.items()
    }
    assert [s.name for s in steps] == [n.name for n in pipeline.nodes]
    assert _names(step_dependencies(steps)) == expected
    # `table@spark` is `table@pandas` through another loader: score waits for clean.
    assert "clean" in expected["score"]


def test_step_inputs_exclude_parameters():
    steps = {s.name: s for s in node_steps(_prepare() + _train())}
    assert steps["load"].inputs == frozenset()
    assert steps["fit"].inputs == {"features"}


def test_pipeline_steps_are_ordered_by_data_flow_and_hide_inner_handoffs():
    steps = pipeline_steps({"train": _train(), "prepare": _prepare()})
    assert [s.name for s in steps] == ["prepare", "train"]
    assert step_dependencies(steps) == {"prepare": (), "train": ("prepare",)}
    prepare, train = steps
    assert prepare.inputs == frozenset()  # raw and table@pandas stay inside the step
    assert train.inputs == {"features", "table@spark"}
    assert kedro_run_command(train, "cloud", ["prepare", "train"]) == [
        "kedro",
        "run",
        "--pipelines=train",
        "--env=cloud",
    ]


def test_pipeline_steps_reject_overlap_and_cycles():
    with pytest.raises(ValueError, match="Node 'load' is in both pipelines 'a' and 'b'"):
        pipeline_steps({"a": _prepare(), "b": _prepare()})
    ping = Pipeline([Node(_f, "y", "x", name="ping")])
    pong = Pipeline([Node(_f, "x", "y", name="pong")])
    with pytest.raises(ValueError, match="cycle.*--group-by node"):
        pipeline_steps({"ping": ping, "pong": pong})


def test_node_command_runs_one_node_of_the_compiled_pipelines():
    fit = {s.name: s for s in node_steps(_train())}["fit"]
    assert kedro_run_command(fit, "cloud", ["train"]) == [
        "kedro",
        "run",
        "--pipelines=train",
        "--nodes=fit",
        "--env=cloud",
    ]


def test_gpu_by_tag_or_node_name_and_unmatched_selectors_are_reported():
    steps = node_steps(_prepare() + _train())
    marked, unmatched = mark_gpu_steps(steps, ["training", "score", "no_such_node", ""])
    assert {s.name for s in marked if s.gpu} == {"fit", "score"}
    assert unmatched == {"no_such_node"}
    grouped, _ = mark_gpu_steps(pipeline_steps({"prepare": _prepare(), "train": _train()}), ["fit"])
    assert {s.name for s in grouped if s.gpu} == {"train"}


def test_memory_handoffs_lists_every_unpersisted_input():
    steps = node_steps(_prepare() + _train())
    persisted = {"features", "table@pandas", "table@spark"}
    handoffs = find_memory_handoffs(steps, persisted.__contains__)
    assert [(h.dataset, h.producers, h.consumers) for h in handoffs] == [
        ("model", ("fit",), ("score",)),
        ("raw", ("load",), ("clean", "featurize")),
    ]
    message = str(MemoryHandoffError(handoffs, "local"))
    assert "2 would be a MemoryDataset" in message and "conf/local/catalog_" in message
    assert "raw (written by load; read by clean, featurize)" in message
    assert "model (written by fit; read by score)" in message


def test_free_input_not_in_catalog_is_a_handoff_too():
    steps = node_steps(_train())
    handoffs = find_memory_handoffs(steps, {"model"}.__contains__)
    assert {h.dataset: h.producers for h in handoffs} == {"features": (), "table@spark": ()}
    assert "written by no step" in str(MemoryHandoffError(handoffs, "cloud"))


def test_grouped_steps_only_check_what_crosses_pods():
    steps = pipeline_steps({"prepare": _prepare(), "train": _train()})
    handoffs = find_memory_handoffs(steps, {"table@spark"}.__contains__)
    assert [h.dataset for h in handoffs] == ["features"]
