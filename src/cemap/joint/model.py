"""The joint embedding model: per-modality Gaussian encoders and decoders over a shared latent.

Every joint objective (the paper's proxy-variable objective and the baselines JMVAE-kl, MVAE,
MMVAE, regression) shares this base — normalisation, encoders q_m(z | e_m), decoders
p_m(e_m | z), translation between modalities — and differs only in the ``objective`` module it
is built with (``cemap.joint.objectives``), which also says how one modality is encoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from cemap.joint.distances import DiagonalGaussian
from cemap.joint.networks import EmbeddingDecoder, GaussianEncoder
from cemap.joint.objectives import make_objective

DEFAULT_PAIRS = [["image", "text"], ["image", "speech"], ["text", "speech"]]
#: The default encoders wider than ``hidden_dim``, and the default constraint
#: followers: speech gets a wider encoder and follows its partners in the distance.
DEFAULT_ENCODER_HIDDEN_DIMS = {"speech": 512}
DEFAULT_FOLLOWERS = ["speech"]
#: What a checkpoint written before a field existed was trained with.
FIELDS_BEFORE_THEY_EXISTED = {"encoder_hidden_dims": {}, "constraint_followers": []}


@dataclass
class JointConfig:
    """Everything needed to rebuild a joint model; ``dataclasses.asdict`` gives the plain dict
    stored in checkpoints.

    ``embedding_dims`` maps each modality to its embedding width and fixes the order in which
    ``JointEmbeddingModel.loss`` takes its arguments.
    """

    embedding_dims: dict[str, int]
    latent_dim: int = 128
    hidden_dim: int = 256
    # Hidden width of chosen modalities' encoders q_m(z | e_m) (the others: hidden_dim):
    # a wider speech encoder lifts every direction from speech (docs/design.md §8.11).
    encoder_hidden_dims: dict[str, int] = field(
        default_factory=lambda: dict(DEFAULT_ENCODER_HIDDEN_DIMS)
    )
    objective: str = "proxy_variable"  # proxy_variable | jmvae_kl | mvae | mmvae | regression
    beta: float = 0.5  # weight of KL(q ‖ N(0, I)) in every latent objective
    alpha: float = 1.0  # jmvae_kl: weight of Σ_m KL(q(z | all) ‖ q_m(z | e_m))
    gamma: float = 1.0  # weight of the cross-reconstructions rec(e_n, dec_n(z_m)); 0 disables
    # D(q_m, q_n): constrained by the proxy-variable objective, reported for every other one
    distance: str = "symmetric_kl"  # kl | symmetric_kl | wasserstein2 | mmd
    constraint: str = "penalty"  # penalty | lagrangian
    pairs: list[list[str]] = field(default_factory=lambda: [list(p) for p in DEFAULT_PAIRS])
    # proxy_variable: in a constrained pair with exactly one of these modalities, D(q_m, q_n)
    # moves only that modality's posterior, the other's is held where it is (docs/design.md
    # §8.11); [] = both move.
    constraint_followers: list[str] = field(default_factory=lambda: list(DEFAULT_FOLLOWERS))
    epsilon: float = 0.5  # the bound D(q_m, q_n) ≤ ε
    multiplier_init: float = 1.0  # λ of the penalty, or λ's starting value for the Lagrangian
    dual_lr: float = 0.01  # η of the dual ascent
    mmd_kernel: str = "imq"
    mmd_samples: int = 8

    def __post_init__(self) -> None:
        self.pairs = [list(pair) for pair in self.pairs]  # tuples from YAML/pydantic → plain lists
        self.encoder_hidden_dims = dict(self.encoder_hidden_dims)
        self.constraint_followers = list(self.constraint_followers)
        if any(int(h) < 1 for h in self.encoder_hidden_dims.values()):
            raise ValueError(
                f"encoder_hidden_dims={self.encoder_hidden_dims}: every width must be a positive "
                "integer, e.g. {'speech': 512}."
            )

    def encoder_hidden_dim(self, modality: str) -> int:
        """Hidden width of ``modality``'s encoder (and of the regression baseline's maps from it)."""
        return self.encoder_hidden_dims.get(modality, self.hidden_dim)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.embedding_dims)


class EmbeddingNormalizer(nn.Module):
    """Standardises one modality's embeddings with the training mean and std (buffers)."""

    mean: Tensor
    std: Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, embeddings: Tensor) -> None:
        """Set mean and std from ``(N, D)`` training embeddings."""
        self.mean.copy_(embeddings.mean(dim=0))
        self.std.copy_(embeddings.std(dim=0).clamp_min(1e-6))

    def forward(self, embeddings: Tensor) -> Tensor:
        return (embeddings - self.mean) / self.std

    def inverse(self, normalized: Tensor) -> Tensor:
        return normalized * self.std + self.mean


class JointEmbeddingModel(nn.Module):
    """Encoders, decoders and normalisers for every modality plus one training objective.

    ``loss(*embeddings)`` takes raw ``(N, D_m)`` embeddings in ``config.modalities`` order and
    returns the objective's scalar terms (key ``"loss"`` is optimised); the training loop calls
    ``after_optimizer_step`` after each step. ``encode``/``decode``/``translate`` work on raw
    (unnormalised) embeddings.
    """

    def __init__(self, config: JointConfig) -> None:
        super().__init__()
        unknown = {m for pair in config.pairs for m in pair} - set(config.modalities)
        if unknown:
            raise ValueError(
                f"pairs={config.pairs} name modalities {sorted(unknown)} that have no "
                f"embedding_dims entry; known modalities: {list(config.modalities)}."
            )
        self.config = config
        self.modalities = config.modalities
        dims, h, d = config.embedding_dims, config.hidden_dim, config.latent_dim
        self.normalizers = nn.ModuleDict({m: EmbeddingNormalizer(dims[m]) for m in dims})
        self.encoders = nn.ModuleDict(
            {m: GaussianEncoder(dims[m], config.encoder_hidden_dim(m), d) for m in dims}
        )
        self.decoders = nn.ModuleDict({m: EmbeddingDecoder(d, h, dims[m]) for m in dims})
        self.objective = make_objective(config)

    @property
    def device(self) -> torch.device:
        return self.normalizers[self.modalities[0]].mean.device

    def fit_normalizers(self, *embeddings: Tensor) -> None:
        """Store each modality's training mean/std; arguments in ``modalities`` order."""
        for m, e in zip(self.modalities, embeddings, strict=True):
            self.normalizers[m].fit(e.to(self.device, torch.float32))

    def forward(self, *embeddings: Tensor) -> dict[str, Tensor]:
        x = {m: self.normalizers[m](e) for m, e in zip(self.modalities, embeddings, strict=True)}
        return self.objective(self, x)

    def loss(self, *embeddings: Tensor) -> dict[str, Tensor]:
        """The objective's terms for one batch of raw embeddings (``"loss"`` is optimised)."""
        return self(*embeddings)

    def after_optimizer_step(self, terms: dict[str, Tensor]) -> None:
        """Let the objective update non-gradient state (the Lagrange multipliers)."""
        self.objective.after_optimizer_step(terms)

    def _as_tensor(self, embeddings: Tensor | np.ndarray) -> Tensor:
        return torch.as_tensor(embeddings, dtype=torch.float32).to(self.device)

    def encode(self, embeddings: Tensor | np.ndarray, modality: str) -> DiagonalGaussian:
        """q(z | e_modality) for raw embeddings ``(N, D_modality)``, as the objective defines it
        (the encoder's Gaussian; for MVAE its product with the prior expert)."""
        x = self.normalizers[modality](self._as_tensor(embeddings))
        return self.objective.posterior(self, x, modality)

    def decode(self, z: Tensor, modality: str) -> Tensor:
        """Raw embeddings ``(..., D_modality)`` decoded from latents ``(..., latent_dim)``."""
        return self.normalizers[modality].inverse(self.decoders[modality](z))

    @torch.no_grad()
    def latent_means(self, embeddings: Tensor | np.ndarray, modality: str) -> Tensor:
        """Point estimates ``(N, latent width)`` of each sample in the shared space: the
        posterior means (the proxy variables' for the paper's objective)."""
        x = self.normalizers[modality](self._as_tensor(embeddings))
        return self.objective.latent_mean(self, x, modality)

    @torch.no_grad()
    def translate(
        self,
        e_source: Tensor | np.ndarray,
        source: str,
        target: str,
        use_mean: bool = True,
        n_samples: int = 1,
    ) -> Tensor:
        """Target-modality embeddings from source-modality embeddings ``(N, D_source)``.

        z is the posterior mean (``use_mean``) or drawn from q(z | source); returns
        ``(N, D_target)`` for one sample, ``(N, n_samples, D_target)`` for several (which needs
        ``use_mean=False``: the mean would give identical copies). The regression objective is
        deterministic: its samples are all the mean.
        """
        for name in (source, target):
            if name not in self.modalities:
                raise ValueError(f"modality {name!r} is not one of {list(self.modalities)}.")
        if n_samples > 1 and use_mean:
            raise ValueError(
                f"n_samples={n_samples} with use_mean=True would repeat one output; "
                "pass use_mean=False to draw samples from q(z | source)."
            )
        x = self.normalizers[source](self._as_tensor(e_source))
        out = self.objective.translate(self, x, source, target, use_mean, n_samples)
        return self.normalizers[target].inverse(out)
