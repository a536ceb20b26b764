"""The joint_latent pipeline on an in-memory catalog, its config, and the missing-input hook."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure
from pydantic import ValidationError

from cemap.checkpoint_dataset import TorchCheckpointDataset
from cemap.concepts import ATTRIBUTES
from cemap.hooks import missing_inputs_message
from cemap.joint import JointConfig, load_joint_model
from cemap.joint.synthetic import synthetic_paired_embeddings
from cemap.models import (
    ImageVAE,
    ImageVAEConfig,
    SpeechAutoencoder,
    SpeechAutoencoderConfig,
    load_autoencoder,
    save_autoencoder,
)
from cemap.pipelines.joint_latent import create_pipeline
from cemap.pipelines.joint_latent.params import JointLatentParams, JointModelParams
from cemap.speech.features import LogMelSpec
from tests.conftest import PROJECT_ROOT, make_project_copy, run_kedro

DIMS = {"image": 12, "text": 8, "speech": 12}
SPEECH_SPEC = LogMelSpec(n_mels=64, n_frames=16)
SPLITS = {"train": 240, "val": 60, "test": 60, "heldout_tuples": 10, "heldout_pairs": 10}


def _inputs() -> dict[str, object]:
    n = sum(SPLITS.values())
    embeddings, labels = synthetic_paired_embeddings(n, DIMS, seed=0)
    metadata = pd.DataFrame(
        {
            "sample_id": np.arange(n),
            "split": np.repeat(list(SPLITS), list(SPLITS.values())),
            **labels,
            "text": [f"sentence {i}" for i in range(n)],
            "template_id": np.arange(n) % 3,
        }
    )
    torch.manual_seed(0)
    image_autoencoder = ImageVAE(ImageVAEConfig(latent_dim=DIMS["image"], channels=4))
    speech_features = np.random.default_rng(0).normal(-6, 3, (n, 64, 16)).astype(np.float32)
    speech_autoencoder = SpeechAutoencoder.from_training_data(
        SpeechAutoencoderConfig(spec=SPEECH_SPEC, latent_dim=DIMS["speech"], channels=4),
        speech_features,
    )
    params = {
        "model": {"latent_dim": 4, "hidden_dim": 16},
        "training": {"epochs": 2, "batch_size": 64, "progress": False},
        "decoder_adaptation": {"training": {"epochs": 2, "batch_size": 64}},
        "report": {"probe_max_train": 100, "n_prompts": 3, "n_samples": 2},
    }
    return {
        "metadata": metadata,
        **{f"{m}.embeddings": e for m, e in embeddings.items()},
        "image.autoencoder": save_autoencoder(image_autoencoder),
        "speech.autoencoder": save_autoencoder(speech_autoencoder),
        "speech_features": speech_features,
        "params:joint_latent": JointLatentParams.model_validate(params),
    }


def test_pipeline_runs_on_an_in_memory_catalog(tmp_path):
    pipeline = create_pipeline()
    inputs = _inputs()
    params = inputs["params:joint_latent"].model_dump()
    params["report"]["n_prompts"] = 6
    inputs["params:joint_latent"] = JointLatentParams.model_validate(params)
    assert pipeline.inputs() == set(inputs)
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in inputs.items()})
    # On disk, as in conf/base: the runner frees consumed in-memory datasets.
    catalog["joint_model"] = TorchCheckpointDataset(filepath=str(tmp_path / "joint_model.pt"))
    SequentialRunner().run(pipeline, catalog)

    model = load_joint_model(catalog.load("joint_model"))
    assert model.config.embedding_dims == DIMS
    history = catalog.load("joint_history")
    assert len(history) == 2
    assert {"train/loss", "val/loss", "val/distance/image_text", "val/lambda/text_speech"} <= set(
        history[0]
    )
    n = len(inputs["metadata"])
    for m in DIMS:
        means = catalog.load(f"{m}.latent_means")
        assert means.shape == (n, 4) and means.dtype == np.float32
    # The speech decoder adapted to this joint model: same encoder, another decoder.
    original = load_autoencoder(inputs["speech.autoencoder"])
    adapted = load_autoencoder(catalog.load("speech.generation_autoencoder"))
    assert len(catalog.load("speech_adaptation_history")) == 2
    for name, value in original.state_dict().items():
        assert torch.equal(adapted.state_dict()[name], value) != name.startswith("decoder.")
    report = catalog.load("joint_alignment_report")
    for family in ("probe/image", "probe/text", "probe/speech", "probe/text_to_image"):
        assert {f"{family}/{a}" for a in ATTRIBUTES} | {f"{family}/mean"} <= set(report)
    assert report["distance/mean"] >= 0
    grid = catalog.load("joint_prompt_grid")
    assert isinstance(grid, Figure)
    titles = [ax.get_title(loc="left") for ax in grid.axes if ax.get_title(loc="left")]
    # One row per prompt: a test sentence per template (3), a held-out pair, a held-out
    # tuple, then more test.
    assert len(titles) == 6
    assert [t.split(":")[0] if t.startswith("held out") else "test" for t in titles] == [
        "test",
        "test",
        "test",
        "held out (pairs)",
        "held out (tuples)",
        "test",
    ]


@pytest.mark.parametrize("objective", ["jmvae_kl", "mvae", "mmvae", "regression"])
def test_every_reference_objective_runs_through_the_pipeline(objective, tmp_path):
    """`--params joint_latent.model.objective=<name>`: the same nodes, the same outputs."""
    inputs = _inputs()
    params = inputs["params:joint_latent"].model_dump()
    params["model"]["objective"] = objective
    inputs["params:joint_latent"] = JointLatentParams.model_validate(params)
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in inputs.items()})
    catalog["joint_model"] = TorchCheckpointDataset(filepath=str(tmp_path / "joint_model.pt"))
    SequentialRunner().run(create_pipeline(), catalog)

    assert load_joint_model(catalog.load("joint_model")).config.objective == objective
    width = DIMS["image"] if objective == "regression" else 4  # regression: the image space
    assert catalog.load("text.latent_means").shape == (len(inputs["metadata"]), width)
    report = catalog.load("joint_alignment_report")
    assert 0 <= report["probe/text_to_image/mean"] <= 1
    assert ("distance/mean" in report) == (objective != "regression")
    assert isinstance(catalog.load("joint_prompt_grid"), Figure)


def test_embeddings_of_the_wrong_length_name_the_pipeline_to_rerun():
    inputs = _inputs()
    inputs["text.embeddings"] = inputs["text.embeddings"][:-1]
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in inputs.items()})
    with pytest.raises(ValueError, match="kedro run --pipelines=embeddings"):
        SequentialRunner().run(create_pipeline().only_nodes("train_joint_model"), catalog)


def _yaml(path: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / path).read_text())


def test_base_and_smoke_parameters_validate():
    base = _yaml("conf/base/parameters_joint_latent.yml")["joint_latent"]
    assert JointLatentParams.model_validate(base) == JointLatentParams()  # yml = schema defaults
    smoke = _yaml("conf/smoke/parameters_joint_latent.yml")["joint_latent"]
    merged = {k: {**base[k], **smoke.get(k, {})} for k in base}
    assert JointLatentParams.model_validate(merged).training.epochs <= 5


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"model": {"distance": "cosine"}}, "distance"),
        ({"model": {"pairs": [["image", "image"]]}}, "two different modalities"),
        ({"model": {"pairs": [["image", "text"], ["text", "image"]]}}, "twice"),
        ({"training": {"epochs": 0}}, "epochs"),
        ({"model": {"betta": 1.0}}, "betta"),
        ({"model": {"encoder_hidden_dims": {"speach": 512}}}, "speach"),
        ({"model": {"encoder_hidden_dims": {"speech": 0}}}, "encoder_hidden_dims"),
        ({"model": {"constraint_followers": ["voice"]}}, "constraint_followers"),
    ],
)
def test_bad_parameters_are_rejected_with_the_key(override, match):
    with pytest.raises(ValidationError, match=match):
        JointLatentParams.model_validate(override)


def test_every_output_is_persisted_with_a_viz_layer():
    catalog = _yaml("conf/base/catalog_joint_latent.yml")
    assert set(catalog) == create_pipeline().all_outputs()
    assert all(entry["metadata"]["kedro-viz"]["layer"] for entry in catalog.values())


def _node(inputs: list[str], outputs: list[str], name: str) -> Node:
    return Node(lambda *args: [None] * len(outputs), inputs, outputs, name=name)


def test_missing_inputs_message_names_every_upstream_pipeline_in_order():
    pipelines = {
        "data_generation": Pipeline(
            [
                _node(["params:x"], ["metadata"], "plan"),
                _node(["metadata"], ["images"], "draw"),  # metadata is not a free output here
            ]
        ),
        "embeddings": Pipeline([_node(["images", "metadata"], ["image.embeddings"], "emb")]),
        "joint_latent": Pipeline([_node(["metadata", "image.embeddings"], ["joint"], "joint")]),
    }
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    nothing = lambda name: False  # noqa: E731
    message = missing_inputs_message(["image.embeddings", "metadata"], pipelines, nothing)
    assert "'image.embeddings', 'metadata'" in message
    assert "kedro run --pipelines=data_generation,embeddings`" in message
    only_embeddings = missing_inputs_message(
        ["image.embeddings"], pipelines, lambda name: name in {"images", "metadata"}
    )
    assert "kedro run --pipelines=embeddings`" in only_embeddings
    assert missing_inputs_message(["raw_file"], pipelines, nothing) is None


@pytest.mark.e2e
@pytest.mark.parametrize("option", ["--pipelines=joint_latent", "--pipeline=joint_latent"])
def test_kedro_run_without_embeddings_says_which_pipelines_to_run_first(tmp_path, option):
    project = make_project_copy(tmp_path / "project")
    result = run_kedro(project, "run", option, check=False)
    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())  # undo the console's line wraps
    assert "Error: This run needs" in output and "Traceback" not in output  # the message alone
    assert "kedro run --pipelines=data_generation,embeddings`" in output
    assert not (project / "data" / "06_models" / "joint_model.pt").exists()


def test_schema_defaults_are_the_joint_config_defaults():
    defaults = JointConfig(embedding_dims={})
    for key, value in JointModelParams().model_dump().items():
        expected = getattr(defaults, key)
        assert value == (expected if key != "pairs" else [tuple(p) for p in expected]), key
