"""On noisy linear views of shared factors the proxy variables converge onto each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cemap.concepts import ATTRIBUTES
from cemap.evaluation.alignment import mean_distances
from cemap.evaluation.probes import linear_probe_accuracy
from cemap.joint import JointConfig, JointEmbeddingModel
from cemap.joint.synthetic import synthetic_paired_embeddings
from cemap.training import TrainConfig, fit
from tests.joint.conftest import tensors

DIMS = {"image": 24, "text": 16, "speech": 24}
# Fewer classes than the real 10 digits and 6 colours, so a 12-epoch run learns them.
PROBLEM = dict(
    noise=0.1,
    n_private=2,
    n_classes={"digit_left": 4, "digit_right": 4, "color_left": 3, "color_right": 3},
)


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    train, train_labels = synthetic_paired_embeddings(1500, DIMS, seed=0, **PROBLEM)
    val, _ = synthetic_paired_embeddings(400, DIMS, seed=1, **PROBLEM)
    test, test_labels = synthetic_paired_embeddings(400, DIMS, seed=2, **PROBLEM)
    config = JointConfig(
        embedding_dims=DIMS,
        latent_dim=8,
        hidden_dim=64,
        distance="wasserstein2",
        constraint="lagrangian",
        epsilon=0.2,
        dual_lr=0.05,
    )
    torch.manual_seed(0)  # the initial weights, whatever ran before in this process
    model = JointEmbeddingModel(config)
    model.fit_normalizers(*tensors(train))
    result = fit(
        model,
        tensors(train),
        tensors(val),
        TrainConfig(epochs=12, batch_size=64, lr=3e-3, patience=12, progress=False),
    )
    return result, (train, train_labels), (test, test_labels)


def test_mean_distance_on_held_out_data_falls_during_training(trained):
    result, _, _ = trained
    distances = np.array([row["val/distance/mean"] for row in result.history])
    # Posteriors start out equal (an untrained encoder ignores its input), spread out as the
    # reconstructions start to use z, and are then pulled back together by the constraint.
    peak = distances.argmax()
    assert peak < len(distances) // 2
    assert distances[-1] < 0.75 * distances[peak]


def test_paired_proxy_variables_are_far_closer_than_unpaired_ones(trained):
    result, _, (test, _) = trained
    model = result.model
    paired = mean_distances(model, test)["distance/mean"]
    shuffled = {
        m: e[np.random.default_rng(0).permutation(len(e))] if m != "image" else e
        for m, e in test.items()
    }
    unpaired = mean_distances(model, shuffled)["distance/mean"]
    assert paired < 0.2 * unpaired


def test_a_probe_on_image_latents_reads_the_text_latents(trained):
    result, (train, train_labels), (test, test_labels) = trained
    z_image = result.model.latent_means(train["image"][:600], "image").numpy()
    z_text = result.model.latent_means(test["text"], "text").numpy()
    z_text_train = result.model.latent_means(train["text"][:600], "text").numpy()
    for a in ATTRIBUTES:
        y_train, y_test = train_labels[a][:600], test_labels[a]
        assert linear_probe_accuracy(z_text_train, y_train, z_text, y_test) > 0.9, a
        assert linear_probe_accuracy(z_image, y_train, z_text, y_test) > 0.85, a
