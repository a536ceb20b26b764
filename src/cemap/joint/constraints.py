"""How the alignment constraint D(q_m, q_n) ≤ ε enters the loss.

Both strategies keep one multiplier λ per constrained pair in a buffer, so the values travel
with the state dict and a reloaded model resumes with the multipliers it had.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Constraint(nn.Module):
    """One multiplier λ_k per constrained pair k; ``term`` is what the loss adds."""

    multipliers: Tensor

    def __init__(self, n_pairs: int, initial: float, epsilon: float) -> None:
        super().__init__()
        self.epsilon = epsilon
        self.register_buffer("multipliers", torch.full((n_pairs,), float(initial)))

    def term(self, distances: Tensor) -> Tensor:
        """The scalar added to the loss for the per-pair batch distances ``(n_pairs,)``."""
        raise NotImplementedError

    @torch.no_grad()
    def update(self, distances: Tensor) -> None:
        """Called after every optimizer step with the detached batch distances."""


class PenaltyConstraint(Constraint):
    """Fixed penalty Σ_k λ_k · D_k; λ never changes and ε is only reported."""

    def term(self, distances: Tensor) -> Tensor:
        return (self.multipliers * distances).sum()


class LagrangianConstraint(Constraint):
    """Lagrangian Σ_k λ_k · (D_k − ε) with projected dual ascent λ_k ← max(0, λ_k + η(D_k − ε)).

    The primal step treats λ as a constant; the dual step raises λ while the constraint is
    violated (D > ε) and lowers it back towards 0 once it holds.
    """

    def __init__(self, n_pairs: int, initial: float, epsilon: float, dual_lr: float) -> None:
        super().__init__(n_pairs, initial, epsilon)
        self.dual_lr = dual_lr

    def term(self, distances: Tensor) -> Tensor:
        return (self.multipliers * (distances - self.epsilon)).sum()

    @torch.no_grad()
    def update(self, distances: Tensor) -> None:
        step = self.dual_lr * (distances.to(self.multipliers) - self.epsilon)
        self.multipliers.add_(step).clamp_(min=0.0)


CONSTRAINTS = ("penalty", "lagrangian")


def make_constraint(
    name: str, n_pairs: int, initial: float, epsilon: float, dual_lr: float
) -> Constraint:
    """``penalty`` (λ fixed at ``initial``) or ``lagrangian`` (λ starts at ``initial``)."""
    if name == "penalty":
        return PenaltyConstraint(n_pairs, initial, epsilon)
    if name == "lagrangian":
        return LagrangianConstraint(n_pairs, initial, epsilon, dual_lr)
    raise ValueError(f"constraint={name!r} is not one of {CONSTRAINTS}.")
