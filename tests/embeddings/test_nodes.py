"""The embeddings nodes and pipeline on small synthetic data, without a Kedro session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro.validation.exceptions import ParameterValidationError
from kedro.validation.parameter_validator import ParameterValidator
from matplotlib.figure import Figure
from pydantic import ValidationError

from cemap.concepts import ATTRIBUTES
from cemap.models import load_autoencoder
from cemap.pipelines.embeddings import create_pipeline
from cemap.pipelines.embeddings.nodes import (
    embed_samples,
    measure_reconstruction,
    plot_reconstructions,
    probe_embeddings,
    render_speech_examples,
    train_image_autoencoder,
    train_speech_autoencoder,
    train_text_autoencoder,
)
from cemap.pipelines.embeddings.params import EmbeddingsParams
from cemap.settings import CONFIG_LOADER_ARGS
from cemap.speech.features import LogMelSpec

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPEC = LogMelSpec(n_mels=64, n_frames=16)  # the synthetic speech features
TINY = {
    "device": "cpu",
    "progress": False,
    "n_examples": 2,
    "image": {"channels": 4, "latent_dim": 8, "training": {"epochs": 2, "batch_size": 16}},
    "text": {"embedding_dim": 8, "word_dim": 8, "hidden_dim": 16, "training": {"epochs": 2}},
    "speech": {
        "channels": 8,
        "latent_dim": 8,
        "audio": {"griffin_lim_iterations": 2},
        "training": {"epochs": 2},
    },
}


@pytest.fixture(scope="module")
def params() -> EmbeddingsParams:
    return EmbeddingsParams.model_validate(TINY)


@pytest.fixture(scope="module")
def trained(synthetic_data, params):
    metadata, images, speech = synthetic_data
    return {
        "image": (train_image_autoencoder(images, metadata, params), images),
        "text": (train_text_autoencoder(metadata, metadata, params), metadata),
        "speech": (train_speech_autoencoder(speech, SPEC.to_dict(), metadata, params), speech),
    }


@pytest.mark.parametrize("modality", ["image", "text", "speech"])
def test_training_node_gives_checkpoint_and_history(trained, modality):
    (checkpoint, history), _ = trained[modality]
    assert checkpoint["modality"] == modality
    assert load_autoencoder(checkpoint).modality == modality
    assert list(history["epoch"]) == [1.0, 2.0]
    assert {"train/loss", "val/loss", "seconds"} <= set(history.columns)
    assert checkpoint["training"]["epochs_run"] == 2


@pytest.mark.parametrize("modality", ["image", "text", "speech"])
def test_embeddings_cover_every_row_in_order(synthetic_data, trained, params, modality):
    metadata = synthetic_data[0]
    (checkpoint, _), samples = trained[modality]
    embeddings = embed_samples(checkpoint, samples, params)
    assert embeddings.shape == (len(metadata), 8) and embeddings.dtype == np.float32
    # Row order: embedding a slice gives the same rows.
    part = samples.iloc[5:9] if modality == "text" else samples[5:9]
    np.testing.assert_allclose(embed_samples(checkpoint, part, params), embeddings[5:9], atol=1e-5)


@pytest.mark.parametrize(
    ("modality", "keys"),
    [
        ("image", {"test/mse", "test/psnr"}),
        ("text", {"test/token_accuracy", "test/exact_sentence_rate"}),
        ("speech", {"test/log_mel_mse"}),
    ],
)
def test_reconstruction_metrics_and_figures(synthetic_data, trained, params, modality, keys):
    metadata = synthetic_data[0]
    (checkpoint, _), samples = trained[modality]
    metrics = measure_reconstruction(checkpoint, samples, metadata, params)
    assert keys <= set(metrics) and metrics["n_test"] == (metadata["split"] == "test").sum()
    assert metrics["modality"] == modality and "samples_per_second" in metrics
    assert isinstance(plot_reconstructions(checkpoint, samples, metadata, params), Figure)


def test_speech_examples_are_audio(synthetic_data, trained, params):
    metadata = synthetic_data[0]
    (checkpoint, _), speech = trained["speech"]
    clips = render_speech_examples(checkpoint, speech, metadata, params)
    assert len(clips) == 2 * params.n_examples
    assert all(name.endswith(("_input", "_reconstruction")) for name in clips)
    waveform, rate = next(iter(clips.values()))
    assert rate == 16000 and waveform.ndim == 1 and np.abs(waveform).max() <= 1


def test_probes_read_attributes_an_embedding_carries_and_not_others(synthetic_data, params):
    metadata, _, _ = synthetic_data
    rng = np.random.default_rng(0)
    # Left side one-hot (digit, colour), nothing about the right side.
    colours = {c: i for i, c in enumerate(sorted(set(metadata["color_left"])))}
    informative = np.zeros((len(metadata), 10 + len(colours)), np.float32)
    informative[np.arange(len(metadata)), metadata["digit_left"].to_numpy()] = 1
    informative[np.arange(len(metadata)), 10 + metadata["color_left"].map(colours).to_numpy()] = 1
    embeddings = informative + rng.normal(0, 0.05, informative.shape).astype(np.float32)
    scores = probe_embeddings(embeddings, metadata, params)
    assert scores["probe/digit_left"] == 1.0 and scores["probe/color_left"] == 1.0
    test = metadata[metadata["split"] == "test"]
    majority = max(test["digit_right"].value_counts(normalize=True).max(), 0.5)
    assert scores["probe/digit_right"] <= majority + 0.2
    expected = np.mean([scores[f"probe/{a}"] for a in ATTRIBUTES])
    assert scores["probe/mean"] == pytest.approx(expected)


def test_labels_never_reach_training(synthetic_data, params):
    metadata, images, _ = synthetic_data
    unlabelled = metadata[["sample_id", "split", "text"]]
    checkpoint, _ = train_text_autoencoder(unlabelled, unlabelled, params)
    assert embed_samples(checkpoint, unlabelled, params).shape[0] == len(metadata)
    train_image_autoencoder(images, unlabelled, params)


class PersistedMemoryDataset(MemoryDataset):
    """Keeps its data when the runner releases it, as a file on disk would."""

    def _release(self) -> None:
        pass


def test_pipeline_runs_on_an_in_memory_catalog(synthetic_data, params):
    metadata, images, speech = synthetic_data
    pipeline = create_pipeline()
    catalog = DataCatalog(
        {
            "metadata": MemoryDataset(metadata),
            "images": MemoryDataset(images),
            "speech_features": MemoryDataset(speech),
            "speech_spec": MemoryDataset(SPEC.to_dict()),
            "params:embeddings": MemoryDataset(params, copy_mode="assign"),
            # Persisted in the real catalog; a plain MemoryDataset is released once the probe
            # node has read it.
            **{f"{m}.embeddings": PersistedMemoryDataset() for m in ("image", "text", "speech")},
        }
    )
    SequentialRunner().run(pipeline, catalog)
    for modality in ("image", "text", "speech"):
        assert catalog.load(f"{modality}.embeddings").shape == (len(metadata), 8)
        assert catalog.load(f"{modality}.reconstruction_metrics")["modality"] == modality
        assert 0 <= catalog.load(f"{modality}.probe_metrics")["probe/mean"] <= 1
    assert len(catalog.load("speech.reconstruction_audio")) == 4


def test_namespaces_and_inputs():
    pipeline = create_pipeline()
    assert pipeline.inputs() == {
        "metadata",
        "images",
        "speech_features",
        "speech_spec",
        "params:embeddings",
    }
    for modality in ("image", "text", "speech"):
        assert {f"{modality}.autoencoder", f"{modality}.embeddings"} <= pipeline.all_outputs()


@pytest.mark.parametrize("env", ["base", "smoke"])
def test_parameter_files_validate(env):
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS)
    params = EmbeddingsParams.model_validate(loader["parameters"]["embeddings"])
    assert params.image.latent_dim == (64 if env == "base" else 8)
    assert params.speech.audio.griffin_lim_iterations == (32 if env == "base" else 2)


def test_speech_training_stops_before_fit_when_features_and_spec_disagree(synthetic_data):
    metadata, _, speech = synthetic_data  # (N, 64, 16)
    spec = {**SPEC.to_dict(), "n_mels": 32}
    params = EmbeddingsParams.model_validate(TINY)
    with pytest.raises(ValueError, match=r"speech_features has shape .*n_mels=32.*data_generation"):
        train_speech_autoencoder(speech, spec, metadata, params)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValidationError, match="beta"):
        EmbeddingsParams.model_validate({"image": {"beta": -1}})
    with pytest.raises(ValidationError, match="device"):
        EmbeddingsParams.model_validate({"device": "tpu"})
    with pytest.raises(ValidationError, match="epoch"):
        EmbeddingsParams.model_validate({"text": {"training": {"epoch": 3}}})
    with pytest.raises(
        ValidationError, match="invariance=1.0 .*needs embeddings.speech.augmentation"
    ):
        EmbeddingsParams.model_validate({"speech": {"invariance": 1.0}})
    with pytest.raises(ValidationError, match="probability"):
        EmbeddingsParams.model_validate({"speech": {"augmentation": {"probability": 2}}})


def test_the_speech_augmentation_parameters_build_the_models_augmentation():
    speech = {"utterance_norm": True, "invariance": 0.5}
    speech["augmentation"] = {"warp": [0.9, 1.1], "snr_db": [10, 30], "time_masks": 2}
    params = EmbeddingsParams.model_validate({"speech": speech})
    config = params.speech.autoencoder_config(SPEC)
    assert config.utterance_norm and config.invariance == 0.5
    assert config.augmentation.warp == (0.9, 1.1) and config.augmentation.snr_db == (10, 30)
    assert config.augmentation.time_masks == 2 and config.augmentation.probability == 0.5


def test_kedro_validates_the_typed_parameters_before_running():
    validator = ParameterValidator({"embeddings": create_pipeline()})
    validated = validator.validate_raw_params({"embeddings": TINY})
    assert isinstance(validated["embeddings"], EmbeddingsParams)
    bad = {**TINY, "image": {**TINY["image"], "beta": -1}}
    with pytest.raises(ParameterValidationError, match="beta"):
        validator.validate_raw_params({"embeddings": bad})
