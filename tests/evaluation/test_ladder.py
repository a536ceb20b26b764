"""The diagnostic ladder: every rung of every direction, each rung what it says it is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cemap.concepts import ATTRIBUTES, MODALITIES
from cemap.data.images import DEFAULT_PALETTE
from cemap.evaluation.labels import encode_attributes, palette_of
from cemap.evaluation.ladder import RUNGS, ladder_table, measure_ladder, plot_ladder
from cemap.evaluation.metrics import DIRECTIONS
from cemap.joint.generation import ConditionalGenerator
from cemap.joint.synthetic import synthetic_paired_embeddings
from cemap.joint.training import train_joint_model
from cemap.training import TrainConfig

COLORS = list(DEFAULT_PALETTE)
DIMS = {"image": 12, "text": 10, "speech": 12}
SIZES = {"train": 600, "val": 100, "test": 80}


class EmbeddingRenderer(torch.nn.Module):
    """A stand-in autoencoder whose 'decoding' is the embedding itself."""

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z


@pytest.fixture(scope="module")
def setting():
    n = sum(SIZES.values())
    embeddings, labels = synthetic_paired_embeddings(n, DIMS, noise=0.1, seed=3)
    metadata = pd.DataFrame(
        {
            "sample_id": np.arange(n),
            "split": np.repeat(list(SIZES), list(SIZES.values())),
            "digit_left": labels["digit_left"],
            "color_left": np.array(COLORS)[labels["color_left"]],
            "digit_right": labels["digit_right"],
            "color_right": np.array(COLORS)[labels["color_right"]],
            "text": ["unused"] * n,
        }
    )
    result = train_joint_model(
        embeddings,
        metadata["split"].to_numpy(),
        {"latent_dim": 8, "hidden_dim": 64},
        TrainConfig(epochs=8, patience=8, progress=False, seed=0),
    )
    generator = ConditionalGenerator(result.model, dict.fromkeys(MODALITIES, EmbeddingRenderer()))
    # The autoencoder rung decodes real embeddings: hand them back as they are (tensors, as the
    # real generator's render takes them).
    generator.render = lambda modality, e, speech_output="log_mel": e.numpy()  # type: ignore
    return metadata, embeddings, generator


def _oracle_reader(metadata, embeddings, modality):
    """Reads a row's labels when given that row's real embedding exactly, else -1: real data
    and the autoencoder rung (the identity here) score 1, generated embeddings 0."""
    truth = encode_attributes(metadata, palette_of(metadata))  # the judges' colour order
    lookup = {row.tobytes(): truth[i] for i, row in enumerate(np.asarray(embeddings[modality]))}

    def read(outputs):
        out = np.asarray(outputs, dtype=np.float32)
        return np.stack([lookup.get(row.tobytes(), np.full(4, -1)) for row in out])

    return read


def test_every_rung_of_every_direction_and_what_each_rung_measures(setting):
    metadata, embeddings, generator = setting
    assert ("image", "speech") in generator.routes  # the default route, read below
    readers = {m: _oracle_reader(metadata, embeddings, m) for m in MODALITIES}
    coherence = {f"coherence/{s}_to_{t}/test/strict": 0.25 for s, t in DIRECTIONS}
    metrics = measure_ladder(
        generator, readers, embeddings, embeddings, metadata, coherence, splits=("test",)
    )
    for s, t in DIRECTIONS:
        name = f"ladder/{s}_to_{t}"
        assert metrics[f"{name}/real/test/strict"] == 1.0
        assert metrics[f"{name}/autoencoder/test/strict"] == 1.0
        assert metrics[f"{name}/joint_self/test/strict"] == 0.0  # never exactly the real e_t
        if (s, t) in generator.routes:  # image→speech: the coherence is the routed rung's,
            assert metrics[f"{name}/routed/test/strict"] == 0.25
            # and the straight path is generated here (never exactly a real e_t, so 0)
            assert metrics[f"{name}/cross/test/strict"] == 0.0
        else:
            assert metrics[f"{name}/cross/test/strict"] == 0.25  # the coherence it was given
            assert f"{name}/routed/test/strict" not in metrics
        for attribute in ATTRIBUTES:
            assert 0 <= metrics[f"{name}/latent_readout/test/{attribute}"] <= 1
        errors = {k: metrics[f"{name}/embedding_error/test/{k}"] for k in ("cross_mse", "self_mse")}
        assert 0 < errors["self_mse"] < errors["cross_mse"] + 1.0
        assert metrics[f"{name}/embedding_error/test/real_nearest_real"] > 0
    # Shared factors are one-hot attributes: a non-linear readout of z recovers them at least
    # twice as often as chance (1/6 for colours, 1/10 for digits).
    assert metrics["ladder/text_to_image/latent_readout/test/color_left"] > 2 / 6
    assert metrics["ladder/image_to_text/latent_readout/test/digit_left"] > 2 / 10


def test_self_mse_is_the_normalised_reconstruction_error(setting):
    metadata, embeddings, generator = setting
    readers = {m: _oracle_reader(metadata, embeddings, m) for m in MODALITIES}
    metrics = measure_ladder(
        generator, readers, embeddings, embeddings, metadata, {}, splits=("test",)
    )
    model = generator.joint_model
    rows = np.flatnonzero(metadata["split"] == "test")
    e = torch.from_numpy(embeddings["image"][rows])
    x = model.normalizers["image"](e)
    own = model.normalizers["image"](model.translate(e, "image", "image"))
    expected = float((own - x).pow(2).mean())
    assert metrics["ladder/text_to_image/embedding_error/test/self_mse"] == pytest.approx(expected)
    assert "ladder/text_to_image/cross/test/strict" not in metrics  # no coherence given


def test_table_and_figure(setting):
    metrics = {f"ladder/{s}_to_{t}/{r}/test/strict": 0.5 for s, t in DIRECTIONS for r in RUNGS}
    table = ladder_table(metrics)
    assert list(table.columns) == list(RUNGS) and len(table) == len(DIRECTIONS)
    assert (table == 0.5).all().all()
    figure = plot_ladder(metrics)
    assert len(figure.axes[0].patches) == len(RUNGS) * len(DIRECTIONS)


def test_unseen_voices_gets_the_rungs_of_the_directions_from_speech_only(setting):
    metadata, embeddings, generator = setting
    metadata = metadata.copy()
    test = np.flatnonzero(metadata["split"] == "test")
    metadata.loc[test[40:], "split"] = "unseen_voices"
    readers = {m: _oracle_reader(metadata, embeddings, m) for m in MODALITIES}
    metrics = measure_ladder(generator, readers, embeddings, embeddings, metadata, {})
    unseen = {name.split("/")[1] for name in metrics if "/unseen_voices/" in name}
    assert unseen == {"speech_to_image", "speech_to_text"}
    assert metrics["ladder/speech_to_image/real/unseen_voices/strict"] == 1.0
    assert {name.split("/")[1] for name in metrics if "/test/" in name} == {
        f"{s}_to_{t}" for s, t in DIRECTIONS
    }
