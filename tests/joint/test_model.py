"""The joint model and the proxy-variable objective: terms, translation, persistence, devices."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from cemap.joint import (
    JointConfig,
    JointEmbeddingModel,
    joint_checkpoint,
    kl_to_standard_normal,
    load_joint_model,
    save_joint_model,
)
from cemap.joint.objectives import reconstruction
from cemap.joint.synthetic import synthetic_paired_embeddings
from cemap.torch_runtime import select_device
from cemap.training import TrainConfig, fit
from tests.joint.conftest import MODALITIES, TINY_DIMS, tensors

PAIRS = ("image_text", "image_speech", "text_speech")


def test_loss_reports_every_term_pair_distance_and_multiplier(tiny_model):
    embeddings, _ = synthetic_paired_embeddings(32, TINY_DIMS, seed=1)
    terms = tiny_model.loss(*tensors(embeddings))
    expected = {"loss", "constraint", "distance/mean"}
    expected |= {f"{kind}/{m}" for kind in ("rec", "kl") for m in MODALITIES}
    expected |= {f"cross_rec/{m}_to_{n}" for m in MODALITIES for n in MODALITIES if m != n}
    expected |= {f"{kind}/{p}" for kind in ("distance", "lambda") for p in PAIRS}
    assert set(terms) == expected
    assert all(v.ndim == 0 and torch.isfinite(v) for v in terms.values())
    terms["loss"].backward()
    assert all(p.grad is not None for p in tiny_model.encoders.parameters())


def test_loss_is_the_equation_of_design_section_4(tiny_config):
    """Σ rec + β Σ KL + γ Σ cross + Σ λ (D − ε), recomputed from the model's own pieces."""
    torch.manual_seed(0)
    model = JointEmbeddingModel(tiny_config)
    embeddings, _ = synthetic_paired_embeddings(16, TINY_DIMS, seed=2)
    model.fit_normalizers(*tensors(embeddings))
    torch.manual_seed(5)
    terms = model.loss(*tensors(embeddings))

    torch.manual_seed(5)  # the same draws of the proxy variables z_m
    x = {m: model.normalizers[m](t) for m, t in zip(MODALITIES, tensors(embeddings), strict=True)}
    q = {m: model.encoders[m](x[m]) for m in MODALITIES}
    z = {m: q[m].rsample() for m in MODALITIES}
    c = tiny_config
    expected = sum(
        reconstruction(x[m], model.decoders[m](z[m])) + c.beta * kl_to_standard_normal(q[m]).mean()
        for m in MODALITIES
    )
    expected += c.gamma * sum(
        reconstruction(x[n], model.decoders[n](z[m]))
        for m in MODALITIES
        for n in MODALITIES
        if n != m
    )
    expected += sum(
        c.multiplier_init * (model.objective.distance(q[m], q[n]).mean() - c.epsilon)
        for m, n in c.pairs
    )
    torch.testing.assert_close(terms["loss"], expected)


def test_without_cross_reconstruction_there_are_no_cross_terms(tiny_config):
    tiny_config.gamma = 0.0
    model = JointEmbeddingModel(tiny_config)
    embeddings, _ = synthetic_paired_embeddings(8, TINY_DIMS, seed=3)
    assert not any(k.startswith("cross_rec/") for k in model.loss(*tensors(embeddings)))


def test_unknown_modality_in_pairs_is_rejected():
    with pytest.raises(ValueError, match="audio"):
        JointEmbeddingModel(JointConfig(embedding_dims={"image": 4}, pairs=[["image", "audio"]]))


def test_chosen_encoders_are_wider_and_so_are_the_regression_maps_from_them():
    config = JointConfig(
        embedding_dims=dict(TINY_DIMS),
        latent_dim=4,
        hidden_dim=16,
        encoder_hidden_dims={"speech": 32},
    )
    model = JointEmbeddingModel(config)
    widths = {m: model.encoders[m].net[0].out_features for m in MODALITIES}
    assert widths == {"image": 16, "text": 16, "speech": 32}
    assert all(model.decoders[m].net[0].out_features == 16 for m in MODALITIES)
    regression = JointEmbeddingModel(replace(config, objective="regression")).objective
    assert regression.regressors["speech_to_image"].net[0].out_features == 32
    assert regression.regressors["image_to_speech"].net[0].out_features == 16
    with pytest.raises(ValueError, match="positive integer"):
        replace(config, encoder_hidden_dims={"speech": 0})


def test_a_checkpoint_from_before_widths_and_followers_loads_as_it_was_trained():
    config = JointConfig(
        embedding_dims=dict(TINY_DIMS),
        latent_dim=4,
        hidden_dim=16,
        encoder_hidden_dims={},
        constraint_followers=[],
    )
    assert JointConfig(embedding_dims={}).encoder_hidden_dims == {"speech": 512}  # the default
    torch.manual_seed(0)
    model = JointEmbeddingModel(config).eval()
    checkpoint = joint_checkpoint(model)
    del checkpoint["config"]["encoder_hidden_dims"], checkpoint["config"]["constraint_followers"]
    restored = load_joint_model(checkpoint)
    e_speech = synthetic_paired_embeddings(4, TINY_DIMS, seed=5)[0]["speech"]
    assert restored.config.encoder_hidden_dims == {}
    assert restored.config.constraint_followers == []
    torch.testing.assert_close(
        restored.translate(e_speech, "speech", "image"),
        model.translate(e_speech, "speech", "image"),
    )


def test_a_constraint_follower_alone_is_moved_by_the_distance_to_its_partner():
    embeddings, _ = synthetic_paired_embeddings(32, TINY_DIMS, seed=1)
    grads = {}
    for followers in ([], ["speech"]):
        config = JointConfig(
            embedding_dims=dict(TINY_DIMS),
            latent_dim=4,
            hidden_dim=16,
            pairs=[["text", "speech"]],
            constraint_followers=followers,
        )
        torch.manual_seed(0)
        model = JointEmbeddingModel(config)
        torch.manual_seed(1)
        terms = model.loss(*tensors(embeddings))
        terms["constraint"].backward()
        grads[tuple(followers)] = {
            m: sum(p.grad.abs().sum() for p in model.encoders[m].parameters() if p.grad is not None)
            for m in ("text", "speech")
        }
        grads[tuple(followers)]["distance"] = terms["distance/text_speech"]
    both, follower = grads[()], grads[("speech",)]
    assert both["text"] > 0 and both["speech"] > 0
    assert follower["text"] == 0 and follower["speech"] > 0  # text is held where it is
    torch.testing.assert_close(follower["distance"], both["distance"])  # the same D is reported
    torch.testing.assert_close(follower["speech"], both["speech"])


def test_translate_shapes_and_sampling(tiny_model):
    e_text = synthetic_paired_embeddings(5, TINY_DIMS, seed=4)[0]["text"]
    assert tiny_model.translate(e_text, "text", "image").shape == (5, TINY_DIMS["image"])
    mean_a = tiny_model.translate(e_text, "text", "image")
    mean_b = tiny_model.translate(torch.from_numpy(e_text), "text", "image")
    torch.testing.assert_close(mean_a, mean_b)
    drawn = tiny_model.translate(e_text, "text", "speech", use_mean=False, n_samples=3)
    assert drawn.shape == (5, 3, TINY_DIMS["speech"])
    assert not torch.allclose(drawn[:, 0], drawn[:, 1])
    with pytest.raises(ValueError, match="use_mean=False"):
        tiny_model.translate(e_text, "text", "image", n_samples=3)
    with pytest.raises(ValueError, match="audio"):
        tiny_model.translate(e_text, "text", "audio")


def test_save_load_round_trip_keeps_weights_normalizers_and_multipliers(tiny_model, tmp_path):
    tiny_model.objective.constraint.multipliers.fill_(2.5)
    path = tmp_path / "joint_model.pt"
    save_joint_model(tiny_model, path)
    checkpoint = torch.load(path, weights_only=True)  # plain data only: no classes pickled
    json.dumps(checkpoint["config"])  # the config is a plain dict
    restored = load_joint_model(path)
    assert not restored.training
    torch.testing.assert_close(restored.objective.constraint.multipliers, torch.full((3,), 2.5))
    e_image = synthetic_paired_embeddings(4, TINY_DIMS, seed=5)[0]["image"]
    torch.testing.assert_close(
        restored.translate(e_image, "image", "text"), tiny_model.translate(e_image, "image", "text")
    )
    for key, value in joint_checkpoint(tiny_model)["state_dict"].items():
        torch.testing.assert_close(restored.state_dict()[key], value)


def test_load_rejects_other_checkpoints_with_a_hint():
    with pytest.raises(ValueError, match="joint_latent pipeline"):
        load_joint_model({"format": 1, "kind": "image_vae"})


def test_auto_device_is_cpu_without_cuda_and_fit_trains_there(monkeypatch, tiny_config):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device("auto") == torch.device("cpu")
    embeddings, _ = synthetic_paired_embeddings(64, TINY_DIMS, seed=6)
    model = JointEmbeddingModel(tiny_config)
    result = fit(
        model,
        tensors(embeddings),
        tensors(embeddings),
        TrainConfig(epochs=1, batch_size=32, device="auto", progress=False),
    )
    assert result.model.device == torch.device("cpu")
    assert {f"val/lambda/{p}" for p in PAIRS} <= set(result.history[0])


def test_fit_runs_the_dual_ascent_through_after_optimizer_step(tiny_config):
    """ε = 0 is always violated: λ rises every epoch; a huge ε never is: λ decays to 0."""
    embeddings, _ = synthetic_paired_embeddings(128, TINY_DIMS, seed=7)
    lambdas = {}
    for epsilon in (0.0, 1e6):
        tiny_config.epsilon, tiny_config.dual_lr = epsilon, 0.05
        model = JointEmbeddingModel(tiny_config)
        model.fit_normalizers(*tensors(embeddings))
        config = TrainConfig(epochs=4, batch_size=32, patience=10, progress=False)
        result = fit(model, tensors(embeddings), tensors(embeddings), config)
        lambdas[epsilon] = np.array([row["train/lambda/image_text"] for row in result.history])
    assert (np.diff(lambdas[0.0]) > 0).all()
    assert lambdas[1e6][-1] == 0.0
