"""Joint training objectives over the shared encoders and decoders of ``JointEmbeddingModel``.

An objective receives the model and one batch of normalised embeddings ``{modality: (N, D)}``
and returns scalar terms, ``"loss"`` being the one optimised. New objectives (JMVAE-kl, PoE,
MoE, regression) subclass ``Objective`` and register in ``OBJECTIVES``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from cemap.joint.constraints import make_constraint
from cemap.joint.distances import kl_to_standard_normal, make_distance

if TYPE_CHECKING:
    from cemap.joint.model import JointConfig, JointEmbeddingModel


def reconstruction(x: Tensor, x_hat: Tensor) -> Tensor:
    """rec(e, ê) = Σ_d (e − ê)², averaged over the batch (normalised embeddings)."""
    return (x - x_hat).pow(2).sum(dim=-1).mean()


class Objective(nn.Module):
    """Base class: ``forward(model, x) -> terms``; ``after_optimizer_step`` is optional."""

    def forward(self, model: JointEmbeddingModel, x: dict[str, Tensor]) -> dict[str, Tensor]:
        raise NotImplementedError

    def after_optimizer_step(self, terms: dict[str, Tensor]) -> None:
        """Non-gradient updates after each optimizer step; none by default."""


class ProxyVariableObjective(Objective):
    """The paper's objective: one proxy latent z_m ~ q_m(z | e_m) per modality,

        Σ_m [ rec(e_m, dec_m(z_m)) + β·KL(q_m ‖ N(0, I)) ] + γ·Σ_{m≠n} rec(e_n, dec_n(z_m))

    subject to D(q_m, q_n) ≤ ε for each constrained pair, enforced by ``constraint``
    (a fixed penalty λ·D or a Lagrangian λ·(D − ε) with dual ascent on λ).

    Terms: ``rec/<m>``, ``kl/<m>``, ``cross_rec/<m>_to_<n>`` (when γ > 0),
    ``distance/<m>_<n>``, ``lambda/<m>_<n>``, ``distance/mean``, ``constraint``, ``loss``.
    """

    def __init__(self, config: JointConfig) -> None:
        super().__init__()
        self.beta = config.beta
        self.gamma = config.gamma
        self.pairs = [tuple(pair) for pair in config.pairs]
        self.pair_names = [f"{m}_{n}" for m, n in self.pairs]
        self.distance = make_distance(
            config.distance, mmd_samples=config.mmd_samples, mmd_kernel=config.mmd_kernel
        )
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

        distances = torch.stack([self.distance(q[m], q[n]).mean() for m, n in self.pairs])
        constraint = self.constraint.term(distances)
        for k, name in enumerate(self.pair_names):
            terms[f"distance/{name}"] = distances[k].detach()
            terms[f"lambda/{name}"] = self.constraint.multipliers[k].clone()
        terms["distance/mean"] = distances.mean().detach()
        terms["constraint"] = constraint
        terms["loss"] = primal + constraint
        return terms

    def after_optimizer_step(self, terms: dict[str, Tensor]) -> None:
        distances = torch.stack([terms[f"distance/{name}"] for name in self.pair_names])
        self.constraint.update(distances.detach())


OBJECTIVES: dict[str, type[Objective]] = {"proxy_variable": ProxyVariableObjective}


def make_objective(config: JointConfig) -> Objective:
    """The objective named by ``config.objective``."""
    if config.objective not in OBJECTIVES:
        raise ValueError(f"objective={config.objective!r} is not one of {tuple(OBJECTIVES)}.")
    return OBJECTIVES[config.objective](config)
