"""`kedro viz build`: every registered pipeline's nodes in the graph, every dataset in a layer."""

from __future__ import annotations

import json

import pytest
from kedro.framework.project import configure_project

from tests.conftest import make_project_copy, run_kedro


@pytest.fixture(scope="module")
def viz_build(tmp_path_factory):
    """The ``build/api`` folder ``kedro viz build`` writes in a project copy (no network)."""
    project = make_project_copy(tmp_path_factory.mktemp("viz") / "project")
    run_kedro(project, "viz", "build")
    return project / "build" / "api"


@pytest.fixture(scope="module")
def registered_pipelines():
    from cemap.pipeline_registry import register_pipelines

    configure_project("cemap")
    return register_pipelines()


def test_every_registered_pipeline_and_node_is_drawn(viz_build, registered_pipelines):
    main = json.loads((viz_build / "main").read_text())
    assert {p["id"] for p in main["pipelines"]} == set(registered_pipelines)
    for name, pipeline in registered_pipelines.items():
        graph = json.loads((viz_build / "pipelines" / name).read_text())
        drawn = {n["full_name"] for n in graph["nodes"] if n["type"] == "task"}
        assert drawn == {node.name for node in pipeline.nodes}, name


def test_every_persisted_dataset_has_a_layer(viz_build):
    main = json.loads((viz_build / "main").read_text())
    datasets = [n for n in main["nodes"] if n["type"] == "data"]
    persisted = [n for n in datasets if not n["dataset_type"].endswith("MemoryDataset")]
    assert persisted
    assert [n["name"] for n in persisted if not n.get("layer")] == []


def test_layers_are_drawn(viz_build):
    main = json.loads((viz_build / "main").read_text())
    assert main["layers"], "kedro-viz found a cycle among the catalog's layers"
