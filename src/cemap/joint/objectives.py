"""Joint training objectives over the shared encoders and decoders of ``JointEmbeddingModel``.

An objective receives the model and one batch of normalised embeddings ``{modality: (N, D)}``
and returns scalar terms, ``"loss"`` being the one optimised. It also says how one modality is
encoded for conditional generation (``posterior``, ``translate``). All of them use the model's
encoders q_m(z | e_m) and decoders p_m(e_m | z), the same optimiser and budget; they differ in
the few lines below:

- ``proxy_variable`` (the paper, docs/design.md §4): one proxy latent per modality, distance
  constraint between the posteriors;
- ``jmvae_kl`` (Suzuki et al. 2016): a joint encoder q(z | all), its ELBO, plus
  α·Σ_m KL(q(z | all) ‖ q_m(z | e_m)) so each modality can be encoded alone;
- ``mvae`` (Wu & Goodman 2018): product of experts with a prior expert, ELBO of the joint and of
  each single modality;
- ``mmvae`` (Shi et al. 2019): mixture of experts, stratified sampling (one draw per expert);
- ``regression``: deterministic MLPs between every two embedding spaces, no latent: the floor.

Reconstruction is the squared error of normalised embeddings (a unit-variance Gaussian
likelihood up to constants), the same for every objective.
"""

from __future__ import annotations

import math
from itertools import permutations
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from cemap.joint.constraints import make_constraint
from cemap.joint.distances import (
    DiagonalGaussian,
    kl_divergence,
    kl_to_standard_normal,
    make_distance,
)
from cemap.joint.networks import EmbeddingDecoder, GaussianEncoder

if TYPE_CHECKING:
    from cemap.joint.model import JointConfig, JointEmbeddingModel


def reconstruction(x: Tensor, x_hat: Tensor) -> Tensor:
    """rec(e, ê) = Σ_d (e − ê)², averaged over the batch (normalised embeddings)."""
    return (x - x_hat).pow(2).sum(dim=-1).mean()


def product_of_experts(experts: list[DiagonalGaussian], prior: bool = True) -> DiagonalGaussian:
    """The Gaussian ∝ Π_k N(μ_k, σ_k²) (times N(0, I) when ``prior``): precisions add,
    T = Σ_k 1/σ_k² (+1), μ = (Σ_k μ_k/σ_k²) / T, σ² = 1/T."""
    precision = sum(1.0 / q.var for q in experts)
    weighted = sum(q.mu / q.var for q in experts)
    if prior:
        precision = precision + 1.0
    return DiagonalGaussian(weighted / precision, -torch.log(precision))


def log_density(q: DiagonalGaussian, z: Tensor) -> Tensor:
    """log N(z; μ, diag σ²) summed over the latent dimensions: ``(..., N, d) -> (..., N)``."""
    return -0.5 * (math.log(2 * math.pi) + q.logvar + (z - q.mu).pow(2) / q.var).sum(dim=-1)


def log_mixture_density(experts: list[DiagonalGaussian], z: Tensor) -> Tensor:
    """log (1/K) Σ_k q_k(z), the density of the uniform mixture of experts, ``(N,)``."""
    log_q = torch.stack([log_density(q, z) for q in experts])
    return torch.logsumexp(log_q, dim=0) - math.log(len(experts))


def standard_normal_log_density(z: Tensor) -> Tensor:
    """log N(z; 0, I), ``(..., N, d) -> (..., N)``."""
    return -0.5 * (math.log(2 * math.pi) + z.pow(2)).sum(dim=-1)


class Objective(nn.Module):
    """Shared base: the reported distance D(q_m, q_n) of the configured pairs, how one modality
    is encoded (``posterior``: the encoder's Gaussian) and translated (mean or samples of that
    posterior, decoded). Subclasses implement ``forward(model, x) -> terms`` and override the
    rest only where they differ."""

    has_latent = True  # False for objectives without a posterior (regression)

    def __init__(self, config: JointConfig) -> None:
        super().__init__()
        self.beta = config.beta
        self.pairs = [tuple(pair) for pair in config.pairs]
        self.pair_names = [f"{m}_{n}" for m, n in self.pairs]
        self.distance = make_distance(
            config.distance, mmd_samples=config.mmd_samples, mmd_kernel=config.mmd_kernel
        )

    def forward(self, model: JointEmbeddingModel, x: dict[str, Tensor]) -> dict[str, Tensor]:
        raise NotImplementedError

    def after_optimizer_step(self, terms: dict[str, Tensor]) -> None:
        """Non-gradient updates after each optimizer step; none by default."""

    def posterior(self, model: JointEmbeddingModel, x: Tensor, modality: str) -> DiagonalGaussian:
        """q(z | e_modality) for normalised ``(N, D)`` embeddings of one modality."""
        return model.encoders[modality](x)

    def latent_mean(self, model: JointEmbeddingModel, x: Tensor, modality: str) -> Tensor:
        """The point in the shared space of normalised ``(N, D)`` embeddings: ``(N, d)``."""
        return self.posterior(model, x, modality).mu

    def translate(
        self,
        model: JointEmbeddingModel,
        x: Tensor,
        source: str,
        target: str,
        use_mean: bool,
        n_samples: int,
    ) -> Tensor:
        """Normalised target embeddings ``(N, D_t)`` or ``(N, n_samples, D_t)`` from normalised
        source embeddings: z = μ or z ~ q(z | source), decoded by the target's decoder."""
        q = self.posterior(model, x, source)
        if n_samples == 1:
            z = q.mu if use_mean else q.rsample()
        else:
            z = q.rsample(n_samples).transpose(0, 1)  # (N, n_samples, d)
        return model.decoders[target](z)


class ProxyVariableObjective(Objective):
    """The paper's objective: one proxy latent z_m ~ q_m(z | e_m) per modality,

        Σ_m [ rec(e_m, dec_m(z_m)) + β·KL(q_m ‖ N(0, I)) ] + γ·Σ_{m≠n} rec(e_n, dec_n(z_m))

    subject to D(q_m, q_n) ≤ ε for each constrained pair, enforced by ``constraint``
    (a fixed penalty λ·D or a Lagrangian λ·(D − ε) with dual ascent on λ).

    Terms: ``rec/<m>``, ``kl/<m>``, ``cross_rec/<m>_to_<n>`` (when γ > 0),
    ``distance/<m>_<n>``, ``lambda/<m>_<n>``, ``distance/mean``, ``constraint``, ``loss``.
    """

    def __init__(self, config: JointConfig) -> None:
        super().__init__(config)
        self.gamma = config.gamma
        self.followers = set(config.constraint_followers)
        self.constraint = make_constraint(
            config.constraint,
            n_pairs=len(self.pairs),
            initial=config.multiplier_init,
            epsilon=config.epsilon,
            dual_lr=config.dual_lr,
        )

    def forward(self, model: JointEmbeddingModel, x: dict[str, Tensor]) -> dict[str, Tensor]:
        q = {m: model.encoders[m](x[m]) for m in x}
        z = {m: q[m].rsample() for m in x}  # the proxy variables, one per modality
        terms: dict[str, Tensor] = {}

        for m in x:
            terms[f"rec/{m}"] = reconstruction(x[m], model.decoders[m](z[m]))
            terms[f"kl/{m}"] = kl_to_standard_normal(q[m]).mean()
        primal = sum(terms[f"rec/{m}"] + self.beta * terms[f"kl/{m}"] for m in x)

        if self.gamma > 0:
            for m in x:
                for n in x:
                    if n != m:
                        cross = reconstruction(x[n], model.decoders[n](z[m]))
                        terms[f"cross_rec/{m}_to_{n}"] = cross
                        primal = primal + self.gamma * cross

        distances = torch.stack(
            [self.distance(*self._constrained(q, m, n)).mean() for m, n in self.pairs]
        )
        constraint = self.constraint.term(distances)
        for k, name in enumerate(self.pair_names):
            terms[f"distance/{name}"] = distances[k].detach()
            terms[f"lambda/{name}"] = self.constraint.multipliers[k].clone()
        terms["distance/mean"] = distances.mean().detach()
        terms["constraint"] = constraint
        terms["loss"] = primal + constraint
        return terms

    def _constrained(
        self, q: dict[str, DiagonalGaussian], m: str, n: str
    ) -> tuple[DiagonalGaussian, DiagonalGaussian]:
        """The posteriors D compares for the pair (m, n): a follower's partner is held fixed."""
        m_follows, n_follows = m in self.followers, n in self.followers
        if m_follows and not n_follows:
            return q[m], q[n].detach()
        if n_follows and not m_follows:
            return q[m].detach(), q[n]
        return q[m], q[n]

    def after_optimizer_step(self, terms: dict[str, Tensor]) -> None:
        distances = torch.stack([terms[f"distance/{name}"] for name in self.pair_names])
        self.constraint.update(distances.detach())


class JMVAEObjective(Objective):
    """JMVAE-kl (Suzuki et al. 2016): a joint encoder q(z | e_1, …, e_M) on the concatenated
    embeddings, trained with

        Σ_m rec(e_m, dec_m(z)) + β·KL(q(z | all) ‖ N(0, I)) + α·Σ_m KL(q(z | all) ‖ q_m(z | e_m)),
        z ~ q(z | all).

    The KL terms pull each unimodal encoder onto the joint posterior; generation from one
    modality uses q_m. Terms: ``rec/<m>``, ``kl/joint``, ``kl/joint_to_<m>``, ``loss``.
    """

    def __init__(self, config: JointConfig) -> None:
        super().__init__(config)
        self.alpha = config.alpha
        width = sum(config.embedding_dims.values())
        self.joint_encoder = GaussianEncoder(width, config.hidden_dim, config.latent_dim)

    def forward(self, model: JointEmbeddingModel, x: dict[str, Tensor]) -> dict[str, Tensor]:
        q_joint = self.joint_encoder(torch.cat([x[m] for m in x], dim=-1))
        z = q_joint.rsample()
        terms = {f"rec/{m}": reconstruction(x[m], model.decoders[m](z)) for m in x}
        terms["kl/joint"] = kl_to_standard_normal(q_joint).mean()
        for m in x:
            terms[f"kl/joint_to_{m}"] = kl_divergence(q_joint, model.encoders[m](x[m])).mean()
        terms["loss"] = (
            sum(terms[f"rec/{m}"] for m in x)
            + self.beta * terms["kl/joint"]
            + self.alpha * sum(terms[f"kl/joint_to_{m}"] for m in x)
        )
        return terms


class MVAEObjective(Objective):
    """MVAE (Wu & Goodman 2018): q(z | S) = N(0, I)·Π_{m∈S} q_m(z | e_m) for a subset S of
    modalities (a product of Gaussian experts with a prior expert, closed form), trained with
    the ELBO of the joint and of every single modality (sub-sampled training):

        Σ_{S ∈ {all, {1}, …, {M}}} [ Σ_{m∈S} rec(e_m, dec_m(z_S)) + β·KL(q(z | S) ‖ N(0, I)) ],
        z_S ~ q(z | S).

    One modality is encoded as N(0, I)·q_m. Terms: ``elbo/joint``, ``elbo/<m>``, ``loss``.
    """

    def posterior(self, model: JointEmbeddingModel, x: Tensor, modality: str) -> DiagonalGaussian:
        return product_of_experts([model.encoders[modality](x)])

    def _negative_elbo(
        self, model: JointEmbeddingModel, x: dict[str, Tensor], q: DiagonalGaussian
    ) -> Tensor:
        z = q.rsample()
        rec = sum(reconstruction(x[m], model.decoders[m](z)) for m in x)
        return rec + self.beta * kl_to_standard_normal(q).mean()

    def forward(self, model: JointEmbeddingModel, x: dict[str, Tensor]) -> dict[str, Tensor]:
        experts = {m: model.encoders[m](x[m]) for m in x}
        terms = {
            "elbo/joint": self._negative_elbo(model, x, product_of_experts([*experts.values()]))
        }
        for m in x:
            terms[f"elbo/{m}"] = self._negative_elbo(
                model, {m: x[m]}, product_of_experts([experts[m]])
            )
        terms["loss"] = sum(terms.values())
        return terms


class MMVAEObjective(Objective):
    """MMVAE (Shi et al. 2019): q(z | all) = (1/M) Σ_m q_m(z | e_m), a mixture of experts. The
    ELBO is estimated with stratified sampling, one draw from each expert:

        (1/M) Σ_m [ Σ_n rec(e_n, dec_n(z_m)) + β·(log q(z_m | all) − log N(z_m; 0, I)) ],
        z_m ~ q_m(z | e_m),

    so every expert must reconstruct every modality. Terms: ``rec/<m>_to_<n>``, ``kl/<m>``
    (the one-sample KL estimate from expert m), ``loss``.
    """

    @staticmethod
    def stratified_samples(experts: dict[str, DiagonalGaussian]) -> dict[str, Tensor]:
        """One reparameterised draw per expert: the stratum of modality m is z_m ~ q_m."""
        return {m: q.rsample() for m, q in experts.items()}

    def forward(self, model: JointEmbeddingModel, x: dict[str, Tensor]) -> dict[str, Tensor]:
        experts = {m: model.encoders[m](x[m]) for m in x}
        z = self.stratified_samples(experts)
        terms: dict[str, Tensor] = {}
        strata = []
        for m in x:
            for n in x:
                terms[f"rec/{m}_to_{n}"] = reconstruction(x[n], model.decoders[n](z[m]))
            log_q = log_mixture_density([*experts.values()], z[m])
            terms[f"kl/{m}"] = (log_q - standard_normal_log_density(z[m])).mean()
            rec = sum(terms[f"rec/{m}_to_{n}"] for n in x)
            strata.append(rec + self.beta * terms[f"kl/{m}"])
        terms["loss"] = sum(strata) / len(strata)
        return terms


class RegressionObjective(Objective):
    """The floor: a deterministic MLP f_{s→t} for every ordered pair of modalities, trained on
    Σ_{s≠t} rec(e_t, f_{s→t}(e_s)); no latent, no sampling.

    Its shared space, for ``latent_means`` and retrieval, is the normalised image embedding
    space: image embeddings as they are, the others mapped there by f_{m→image}. It has no
    posterior, so distances D(q_m, q_n) are not defined for it. Terms: ``rec/<s>_to_<t>``,
    ``loss``.
    """

    has_latent = False

    def __init__(self, config: JointConfig) -> None:
        super().__init__(config)
        dims = config.embedding_dims
        self.space = "image" if "image" in dims else next(iter(dims))
        self.regressors = nn.ModuleDict(
            {
                f"{s}_to_{t}": EmbeddingDecoder(dims[s], config.encoder_hidden_dim(s), dims[t])
                for s, t in permutations(dims, 2)
            }
        )

    def forward(self, model: JointEmbeddingModel, x: dict[str, Tensor]) -> dict[str, Tensor]:
        terms = {
            f"rec/{s}_to_{t}": reconstruction(x[t], self.regressors[f"{s}_to_{t}"](x[s]))
            for s, t in permutations(x, 2)
        }
        terms["loss"] = sum(terms.values())
        return terms

    def posterior(self, model: JointEmbeddingModel, x: Tensor, modality: str) -> DiagonalGaussian:
        raise ValueError(
            "objective='regression' has no posterior q(z | e): it maps embeddings directly. "
            "Use translate/generate, or a latent objective (proxy_variable, jmvae_kl, mvae, "
            "mmvae) for posteriors and distances."
        )

    def latent_mean(self, model: JointEmbeddingModel, x: Tensor, modality: str) -> Tensor:
        if modality == self.space:
            return x
        return self.regressors[f"{modality}_to_{self.space}"](x)

    def translate(
        self,
        model: JointEmbeddingModel,
        x: Tensor,
        source: str,
        target: str,
        use_mean: bool,
        n_samples: int,
    ) -> Tensor:
        out = x if source == target else self.regressors[f"{source}_to_{target}"](x)
        if n_samples == 1:
            return out
        return out.unsqueeze(1).expand(-1, n_samples, -1)  # deterministic: every sample alike


OBJECTIVES: dict[str, type[Objective]] = {
    "proxy_variable": ProxyVariableObjective,
    "jmvae_kl": JMVAEObjective,
    "mvae": MVAEObjective,
    "mmvae": MMVAEObjective,
    "regression": RegressionObjective,
}


def make_objective(config: JointConfig) -> Objective:
    """The objective named by ``config.objective``."""
    if config.objective not in OBJECTIVES:
        raise ValueError(f"objective={config.objective!r} is not one of {tuple(OBJECTIVES)}.")
    return OBJECTIVES[config.objective](config)
