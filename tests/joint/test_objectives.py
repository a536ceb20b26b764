"""The reference objectives: hand-computed losses, PoE/MoE pieces, training and generation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from cemap.evaluation.alignment import mean_distances
from cemap.joint import (
    OBJECTIVES,
    ConditionalGenerator,
    DiagonalGaussian,
    JointConfig,
    JointEmbeddingModel,
    joint_checkpoint,
    load_joint_model,
    product_of_experts,
)
from cemap.joint.distances import kl_divergence
from cemap.joint.objectives import MMVAEObjective, log_mixture_density
from cemap.joint.synthetic import synthetic_paired_embeddings
from cemap.training import TrainConfig, fit
from tests.joint.conftest import TINY_DIMS, tensors

BETA, ALPHA = 0.5, 0.3


def gaussian(mu: float, var: float) -> DiagonalGaussian:
    return DiagonalGaussian(torch.tensor([[mu]]), torch.tensor([[math.log(var)]]))


class FixedPosterior(nn.Module):
    """An 'encoder' that returns N(mu, var) whatever it is given (one sample, 1-D latent)."""

    def __init__(self, mu: float, var: float) -> None:
        super().__init__()
        self.q = gaussian(mu, var)

    def forward(self, x):
        return self.q


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return self.factor * x


def one_d_model(objective: str) -> JointEmbeddingModel:
    """Two 1-D modalities, x_image = 1 and x_text = 3 (identity normalisers), identity decoders,
    encoders q_image = N(1, 1) and q_text = N(3, 1)."""
    model = JointEmbeddingModel(
        JointConfig(
            embedding_dims={"image": 1, "text": 1},
            latent_dim=1,
            hidden_dim=4,
            objective=objective,
            beta=BETA,
            alpha=ALPHA,
            pairs=[["image", "text"]],
        )
    )
    model.encoders["image"] = FixedPosterior(1.0, 1.0)
    model.encoders["text"] = FixedPosterior(3.0, 1.0)
    model.decoders["image"] = nn.Identity()
    model.decoders["text"] = nn.Identity()
    return model


X = (torch.tensor([[1.0]]), torch.tensor([[3.0]]))


@pytest.fixture
def mean_samples(monkeypatch):
    """rsample returns the mean, so every loss is a closed form."""
    monkeypatch.setattr(DiagonalGaussian, "rsample", lambda self, n=None: self.mu)


def kl_std(mu: float, var: float) -> float:
    return 0.5 * (mu**2 + var - 1 - math.log(var))


def test_product_of_experts_is_the_closed_form():
    with_prior = product_of_experts([gaussian(1.0, 1.0), gaussian(3.0, 1.0)])
    assert with_prior.mu.item() == pytest.approx(4 / 3)  # (0 + 1 + 3) / (1 + 1 + 1)
    assert with_prior.var.item() == pytest.approx(1 / 3)
    unequal = product_of_experts([gaussian(0.0, 4.0), gaussian(2.0, 1.0)], prior=False)
    assert unequal.var.item() == pytest.approx(1 / 1.25)  # precisions 1/4 + 1
    assert unequal.mu.item() == pytest.approx((0 / 4 + 2 / 1) / 1.25)


def test_mvae_loss_is_the_joint_and_single_modality_elbos(mean_samples):
    terms = one_d_model("mvae").loss(*X)
    # q(z | both) = N(4/3, 1/3); q(z | image) = N(1/2, 1/2); q(z | text) = N(3/2, 1/2).
    joint = (1 - 4 / 3) ** 2 + (3 - 4 / 3) ** 2 + BETA * kl_std(4 / 3, 1 / 3)
    image = (1 - 1 / 2) ** 2 + BETA * kl_std(1 / 2, 1 / 2)
    text = (3 - 3 / 2) ** 2 + BETA * kl_std(3 / 2, 1 / 2)
    assert terms["elbo/joint"].item() == pytest.approx(joint, rel=1e-5)
    assert terms["elbo/image"].item() == pytest.approx(image, rel=1e-5)
    assert terms["elbo/text"].item() == pytest.approx(text, rel=1e-5)
    assert terms["loss"].item() == pytest.approx(joint + image + text, rel=1e-5)


def test_mvae_encodes_one_modality_with_the_prior_expert():
    model = one_d_model("mvae")
    q = model.encode(np.array([[1.0]], dtype=np.float32), "text")
    assert (q.mu.item(), q.var.item()) == pytest.approx((3 / 2, 1 / 2))


def test_jmvae_loss_is_the_joint_elbo_plus_alpha_kl_to_each_unimodal_encoder(mean_samples):
    model = one_d_model("jmvae_kl")
    model.objective.joint_encoder = FixedPosterior(2.0, 0.5)
    terms = model.loss(*X)
    kl_to_unimodal = 0.5 * (math.log(1 / 0.5) + (0.5 + 1.0) / 1.0 - 1)  # KL(N(2,.5) ‖ N(1|3, 1))
    assert terms["rec/image"].item() == pytest.approx((1 - 2) ** 2)
    assert terms["rec/text"].item() == pytest.approx((3 - 2) ** 2)
    assert terms["kl/joint"].item() == pytest.approx(kl_std(2.0, 0.5), rel=1e-5)
    assert terms["kl/joint_to_image"].item() == pytest.approx(kl_to_unimodal, rel=1e-5)
    expected = 2.0 + BETA * kl_std(2.0, 0.5) + ALPHA * 2 * kl_to_unimodal
    assert terms["loss"].item() == pytest.approx(expected, rel=1e-5)


def test_jmvae_joint_encoder_sees_every_modality():
    torch.manual_seed(0)
    model = JointEmbeddingModel(JointConfig(embedding_dims=dict(TINY_DIMS), objective="jmvae_kl"))
    assert model.objective.joint_encoder.net[0].in_features == sum(TINY_DIMS.values())


def normal_pdf(z: float, mu: float) -> float:
    return math.exp(-0.5 * (z - mu) ** 2) / math.sqrt(2 * math.pi)


def test_mmvae_loss_is_the_stratified_mixture_elbo(mean_samples):
    terms = one_d_model("mmvae").loss(*X)
    # Strata z_image = 1, z_text = 3; identity decoders.
    assert terms["rec/image_to_image"].item() == pytest.approx(0.0)
    assert terms["rec/image_to_text"].item() == pytest.approx((3 - 1) ** 2)
    assert terms["rec/text_to_image"].item() == pytest.approx((1 - 3) ** 2)
    mixture = 0.5 * (normal_pdf(1, 1) + normal_pdf(1, 3))  # q_mix at z_image
    kl_image = math.log(mixture) - math.log(normal_pdf(1, 0))
    mixture = 0.5 * (normal_pdf(3, 1) + normal_pdf(3, 3))
    kl_text = math.log(mixture) - math.log(normal_pdf(3, 0))
    assert terms["kl/image"].item() == pytest.approx(kl_image, rel=1e-5)
    assert terms["kl/text"].item() == pytest.approx(kl_text, rel=1e-5)
    expected = 0.5 * ((0 + 4 + BETA * kl_image) + (4 + 0 + BETA * kl_text))
    assert terms["loss"].item() == pytest.approx(expected, rel=1e-5)


def test_mmvae_stratified_sampling_draws_each_stratum_from_its_own_expert():
    torch.manual_seed(0)
    experts = {
        m: DiagonalGaussian(torch.full((256, 2), mu), torch.full((256, 2), -8.0))
        for m, mu in [("image", -10.0), ("text", 0.0), ("speech", 10.0)]
    }
    z = MMVAEObjective.stratified_samples(experts)
    assert list(z) == list(experts)
    for m, q in experts.items():
        assert (z[m] - q.mu).abs().max().item() < 0.2  # σ = e^-4 ≈ 0.018
        assert z[m].std().item() > 0  # drawn, not the mean


def test_log_mixture_density_matches_torch_distributions():
    experts = [gaussian(-1.0, 0.5), gaussian(2.0, 2.0)]
    z = torch.tensor([[0.3]])
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.tensor([0.5, 0.5])),
        torch.distributions.Normal(torch.tensor([-1.0, 2.0]), torch.tensor([0.5, 2.0]).sqrt()),
    )
    assert log_mixture_density(experts, z).item() == pytest.approx(
        mixture.log_prob(torch.tensor(0.3)).item(), rel=1e-5
    )


def test_regression_loss_sums_every_direction():
    model = one_d_model("regression")
    model.objective.regressors["image_to_text"] = Scale(2.0)  # 1 → 2, target 3
    model.objective.regressors["text_to_image"] = Scale(1 / 3)  # 3 → 1, target 1
    terms = model.loss(*X)
    assert terms["rec/image_to_text"].item() == pytest.approx((3 - 2) ** 2)
    assert terms["rec/text_to_image"].item() == pytest.approx(0.0)
    assert terms["loss"].item() == pytest.approx(1.0)


def test_regression_has_no_posterior_and_its_samples_are_the_prediction():
    torch.manual_seed(0)
    model = JointEmbeddingModel(
        JointConfig(embedding_dims=dict(TINY_DIMS), hidden_dim=16, objective="regression")
    )
    e_text = np.random.default_rng(0).normal(size=(5, TINY_DIMS["text"])).astype(np.float32)
    with pytest.raises(ValueError, match="objective='regression' has no posterior"):
        model.encode(e_text, "text")
    mean = model.translate(e_text, "text", "image")
    samples = model.translate(e_text, "text", "image", use_mean=False, n_samples=3)
    assert samples.shape == (5, 3, TINY_DIMS["image"])
    assert torch.equal(samples, mean.unsqueeze(1).expand(-1, 3, -1))
    # Its shared space is the image embedding space, for latent means and retrieval.
    assert model.latent_means(e_text, "text").shape == (5, TINY_DIMS["image"])
    assert mean_distances(model, {"text": e_text, "image": mean.numpy()}) == {}


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
def test_every_objective_trains_reloads_and_generates(objective, tiny_autoencoders):
    embeddings, _ = synthetic_paired_embeddings(192, TINY_DIMS, seed=0)
    train = tensors({m: e[:128] for m, e in embeddings.items()})
    val = tensors({m: e[128:] for m, e in embeddings.items()})
    torch.manual_seed(0)
    config = JointConfig(
        embedding_dims=dict(TINY_DIMS), latent_dim=4, hidden_dim=16, objective=objective
    )
    model = JointEmbeddingModel(config)
    model.fit_normalizers(*train)
    before = model.loss(*val)["loss"].item()
    result = fit(model, train, val, TrainConfig(epochs=8, batch_size=32, progress=False))
    assert result.history[result.best_epoch - 1]["val/loss"] < before

    reloaded = load_joint_model(joint_checkpoint(result.model))
    assert reloaded.config.objective == objective
    e_text = embeddings["text"][128:136]
    assert torch.allclose(
        reloaded.translate(e_text, "text", "image"), result.model.translate(e_text, "text", "image")
    )

    generator = ConditionalGenerator(reloaded, tiny_autoencoders, device="cpu")
    images = generator.generate("text", e_text, "image", embeddings=True)
    assert images.shape == (8, 28, 56, 3) and images.dtype == np.uint8
    sentences = generator.generate(
        "speech", embeddings["speech"][128:136], "text", n_samples=2, use_mean=False
    )
    assert len(sentences) == 8 and all(len(s) == 2 for s in sentences)
    log_mels = generator.generate("image", embeddings["image"][128:136], "speech")
    assert log_mels.ndim == 3 and len(log_mels) == 8


@pytest.mark.parametrize("objective", ["jmvae_kl", "mvae", "mmvae"])
def test_latent_baselines_report_the_same_distance_as_the_proxy_objective(objective):
    """Alignment is comparable: every latent objective reports D(q_m, q_n) of its posteriors."""
    torch.manual_seed(0)
    model = JointEmbeddingModel(
        JointConfig(embedding_dims=dict(TINY_DIMS), latent_dim=4, objective=objective)
    )
    embeddings, _ = synthetic_paired_embeddings(16, TINY_DIMS, seed=0)
    report = mean_distances(model, embeddings)
    q_image, q_text = (model.encode(embeddings[m], m) for m in ("image", "text"))
    expected = 0.5 * (kl_divergence(q_image, q_text) + kl_divergence(q_text, q_image)).mean()
    assert report["distance/image_text"] == pytest.approx(expected.item(), rel=1e-5)
