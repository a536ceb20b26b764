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


LAYERS = [
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
]


def _layers_drawn(graph: dict) -> list[str]:
    present = {n.get("layer") for n in graph["nodes"] if n.get("layer")}
    return [layer for layer in graph["layers"] if layer in present]


def test_layers_are_drawn_in_data_flow_order_in_every_view(viz_build, registered_pipelines):
    for name in registered_pipelines:
        graph = json.loads((viz_build / "pipelines" / name).read_text())
        drawn = _layers_drawn(graph)
        assert drawn, f"{name}: no layers (a cycle among them?)"
        assert set(drawn) <= set(LAYERS), name
        assert drawn == sorted(drawn, key=LAYERS.index), f"{name}: {drawn}"
    default = json.loads((viz_build / "pipelines" / "__default__").read_text())
    assert _layers_drawn(default)[:2] == ["01_raw", "03_primary"]


def test_each_dataset_sits_in_the_layer_it_belongs_to(viz_build):
    main = json.loads((viz_build / "main").read_text())
    layer = {n["name"]: n.get("layer") for n in main["nodes"] if n["type"] == "data"}
    assert layer["source_digits"] == "01_raw"
    assert layer["metadata"] == layer["images"] == "03_primary"
    for modality in ("image", "text", "speech"):
        assert layer[f"{modality}.autoencoder"] == "06_models"
        assert layer[f"{modality}.embeddings"] == "05_model_input"
    assert layer["joint_model"] == layer["image_judge"] == "06_models"
    assert layer["report_html"] == "08_reporting"


def test_every_training_node_is_tagged_training(registered_pipelines):
    training = {
        "image.train_autoencoder",
        "text.train_autoencoder",
        "speech.train_autoencoder",
        "train_joint_model",
        "train_image_judge",
        "train_speech_judge",
    }
    nodes = {n.name: n for p in registered_pipelines.values() for n in p.nodes}
    for name in training:
        assert "training" in nodes[name].tags, name
    comparison = registered_pipelines["objective_comparison"].nodes
    assert any("training" in n.tags for n in comparison)


def test_modality_pipelines_collapse_into_namespaces(viz_build):
    main = json.loads((viz_build / "main").read_text())
    boxes = {n["name"] for n in main["nodes"] if n["type"] == "modularPipeline"}
    assert {"image", "text", "speech"} <= boxes
