"""Distances between the diagonal Gaussians q_m(z | e_m) of two modalities.

Every distance takes two batches of posteriors ``p`` and ``q`` (the i-th rows belong to the
same paired sample) and returns one value per sample, shape ``(N,)``; the objective averages
over the batch. Closed forms are used wherever they exist; MMD is estimated from samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class DiagonalGaussian:
    """N(mu, diag exp(logvar)) for a batch: ``mu`` and ``logvar`` are ``(N, d)``."""

    mu: Tensor
    logvar: Tensor

    @property
    def var(self) -> Tensor:
        return self.logvar.exp()

    @property
    def std(self) -> Tensor:
        return (0.5 * self.logvar).exp()

    def detach(self) -> DiagonalGaussian:
        """The same Gaussian, cut from the graph: a loss on it moves nothing upstream."""
        return DiagonalGaussian(self.mu.detach(), self.logvar.detach())

    def rsample(self, n_samples: int | None = None) -> Tensor:
        """Reparameterised samples: ``(N, d)``, or ``(n_samples, N, d)`` when ``n_samples`` given."""
        shape = self.mu.shape if n_samples is None else (n_samples, *self.mu.shape)
        return self.mu + self.std * torch.randn(shape, dtype=self.mu.dtype, device=self.mu.device)


def kl_divergence(p: DiagonalGaussian, q: DiagonalGaussian) -> Tensor:
    """KL(p ‖ q) = ½ Σ_d [log σ_q²/σ_p² + (σ_p² + (μ_p − μ_q)²)/σ_q² − 1], shape ``(N,)``."""
    return 0.5 * (q.logvar - p.logvar + (p.var + (p.mu - q.mu).pow(2)) / q.var - 1.0).sum(dim=-1)


def kl_to_standard_normal(p: DiagonalGaussian) -> Tensor:
    """KL(p ‖ N(0, I)) = ½ Σ_d [μ² + σ² − 1 − log σ²], shape ``(N,)``."""
    return 0.5 * (p.mu.pow(2) + p.var - 1.0 - p.logvar).sum(dim=-1)


def symmetric_kl(p: DiagonalGaussian, q: DiagonalGaussian) -> Tensor:
    """½ [KL(p ‖ q) + KL(q ‖ p)]: the halved Jeffreys divergence, on the same scale as KL."""
    return 0.5 * (kl_divergence(p, q) + kl_divergence(q, p))


def wasserstein2(p: DiagonalGaussian, q: DiagonalGaussian) -> Tensor:
    """Squared 2-Wasserstein distance W₂² = ‖μ_p − μ_q‖² + ‖σ_p − σ_q‖² (diagonal covariances).

    The square, not W₂ itself, so the gradient stays finite when the two Gaussians coincide.
    """
    return ((p.mu - q.mu).pow(2) + (p.std - q.std).pow(2)).sum(dim=-1)


def _kernel(squared_distances: Tensor, kernel: str, scale: float) -> Tensor:
    if kernel == "rbf":
        return torch.exp(-squared_distances / scale)
    if kernel == "imq":
        return scale / (scale + squared_distances)
    raise ValueError(f"mmd kernel={kernel!r} is not one of ('rbf', 'imq').")


def mmd(
    p: DiagonalGaussian,
    q: DiagonalGaussian,
    n_samples: int = 8,
    kernel: str = "imq",
    scale: float | None = None,
) -> Tensor:
    """Unbiased MMD² between p_i and q_i from ``n_samples`` draws of each, shape ``(N,)``.

    Computed per paired sample rather than between the two aggregate posteriors: matching
    only the aggregates would align the marginals without aligning the pairs, which is what
    conditional generation needs. The unbiased estimator has expectation exactly MMD², so a
    constraint MMD² ≤ ε is not biased upward by the sample count. ``scale`` is the kernel
    width C (RBF exp(−‖x−y‖²/C), IMQ C/(C+‖x−y‖²)); ``None`` uses C = 2d, the usual choice
    for a unit-variance prior in d dimensions.
    """
    if n_samples < 2:
        raise ValueError(f"mmd needs n_samples >= 2 for the unbiased estimate, got {n_samples}.")
    d = p.mu.shape[-1]
    scale = 2.0 * d if scale is None else scale
    x = p.rsample(n_samples).transpose(0, 1)  # (N, K, d)
    y = q.rsample(n_samples).transpose(0, 1)

    def mean_kernel(a: Tensor, b: Tensor, same: bool) -> Tensor:
        k = _kernel((a.unsqueeze(2) - b.unsqueeze(1)).pow(2).sum(-1), kernel, scale)  # (N, K, K)
        if same:  # drop the i = j terms for the unbiased U-statistic
            return (k.sum((1, 2)) - k.diagonal(dim1=1, dim2=2).sum(-1)) / (
                n_samples * (n_samples - 1)
            )
        return k.mean((1, 2))

    return mean_kernel(x, x, True) + mean_kernel(y, y, True) - 2.0 * mean_kernel(x, y, False)


GaussianDistance = Callable[[DiagonalGaussian, DiagonalGaussian], Tensor]

DISTANCES: dict[str, GaussianDistance] = {
    "kl": kl_divergence,
    "symmetric_kl": symmetric_kl,
    "wasserstein2": wasserstein2,
    "mmd": mmd,
}


def make_distance(
    name: str, mmd_samples: int = 8, mmd_kernel: str = "imq", mmd_scale: float | None = None
) -> GaussianDistance:
    """The distance called ``name`` (one of ``DISTANCES``), with MMD's sampling options bound."""
    if name not in DISTANCES:
        raise ValueError(f"distance={name!r} is not one of {tuple(DISTANCES)}.")
    if name == "mmd":
        _kernel(torch.zeros(()), mmd_kernel, 1.0)  # reject an unknown kernel now, not mid-run

        def bound_mmd(p: DiagonalGaussian, q: DiagonalGaussian) -> Tensor:
            return mmd(p, q, n_samples=mmd_samples, kernel=mmd_kernel, scale=mmd_scale)

        return bound_mmd
    return DISTANCES[name]
