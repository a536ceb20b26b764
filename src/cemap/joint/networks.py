"""The small networks every joint objective is built from: MLPs, Gaussian encoders, decoders."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from cemap.joint.distances import DiagonalGaussian


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given widths with SiLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class GaussianEncoder(nn.Module):
    """q(z | e) = N(μ, diag σ²) from a normalised embedding ``(N, D)``."""

    def __init__(self, embedding_dim: int, hidden_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.net = mlp([embedding_dim, hidden_dim, hidden_dim, 2 * latent_dim])

    def forward(self, x: Tensor) -> DiagonalGaussian:
        # float32 even under autocast: KLs and distances of low-precision logvars drift.
        mu, logvar = self.net(x).float().chunk(2, dim=-1)
        return DiagonalGaussian(mu, logvar.clamp(-8.0, 8.0))


class EmbeddingDecoder(nn.Module):
    """A deterministic map ``(..., D_in) -> (..., D_out)``: the mean of p_m(e_m | z) when the
    input is a latent, or a direct regressor between two embedding spaces."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int) -> None:
        super().__init__()
        self.net = mlp([input_dim, hidden_dim, hidden_dim, output_dim])

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).float()
