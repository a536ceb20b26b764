"""Convolutional VAE for the double-digit images; its posterior mean is the image embedding.

q(z | x) = N(mu(x), diag sigma(x)^2),   p(x | z) = Bernoulli(decoder(z)) (or Gaussian)
loss     = E_q[-log p(x | z)] + beta * KL(q(z | x) || N(0, I))
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ImageVAEConfig:
    height: int = 28
    width: int = 56
    latent_dim: int = 64
    channels: int = 32  # width of the first convolution; the second has twice as many
    beta: float = 1.0
    reconstruction: str = "bce"  # "bce" (Bernoulli pixels) or "mse" (Gaussian, unit variance)


class ImageEncoder(nn.Module):
    """``(N, 3, H, W)`` in [0, 1] -> mean and log-variance of q(z | x), each ``(N, latent_dim)``."""

    def __init__(self, config: ImageVAEConfig) -> None:
        super().__init__()
        c = config.channels
        self.features = nn.Sequential(
            nn.Conv2d(3, c, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Flatten(),
        )
        self.to_moments = nn.Linear(
            2 * c * (config.height // 4) * (config.width // 4), 2 * config.latent_dim
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.to_moments(self.features(x)).chunk(2, dim=1)
        return mu, logvar


class ImageDecoder(nn.Module):
    """``(N, latent_dim)`` -> pixel logits ``(N, 3, H, W)``."""

    def __init__(self, config: ImageVAEConfig) -> None:
        super().__init__()
        c = config.channels
        self.grid = (2 * c, config.height // 4, config.width // 4)
        self.from_latent = nn.Linear(config.latent_dim, int(np.prod(self.grid)))
        self.render = nn.Sequential(
            nn.SiLU(),
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.ConvTranspose2d(c, 3, 4, stride=2, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.render(self.from_latent(z).view(-1, *self.grid))


class ImageVAE(nn.Module):
    modality: ClassVar[str] = "image"
    kind: ClassVar[str] = "image_vae"

    def __init__(self, config: ImageVAEConfig) -> None:
        super().__init__()
        if config.height % 4 or config.width % 4:
            raise ValueError(
                f"ImageVAE needs height and width divisible by 4; got {config.height}x{config.width}."
            )
        if config.reconstruction not in ("bce", "mse"):
            raise ValueError(
                f"ImageVAEConfig.reconstruction={config.reconstruction!r}; use 'bce' or 'mse'."
            )
        self.config = config
        self.encoder = ImageEncoder(config)
        self.decoder = ImageDecoder(config)

    @classmethod
    def from_training_data(cls, config: ImageVAEConfig, images: np.ndarray) -> ImageVAE:
        """A fresh VAE sized for ``images`` ``(N, H, W, 3) uint8``."""
        _, height, width, _ = images.shape
        return cls(replace(config, height=height, width=width))

    @staticmethod
    def inputs_from(images: np.ndarray) -> torch.Tensor:
        """``(N, H, W, 3) uint8`` -> ``(N, 3, H, W) float32`` in [0, 1]."""
        return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255.0)

    @staticmethod
    def images_from(x: torch.Tensor) -> np.ndarray:
        """``(N, 3, H, W)`` in [0, 1] -> ``(N, H, W, 3) uint8``, the inverse of ``inputs_from``."""
        return x.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding: posterior mean ``(N, latent_dim)``."""
        return self.encoder(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, H, W)`` in [0, 1] from latents ``(N, latent_dim)``."""
        return (
            torch.sigmoid(self.decoder(z))
            if self.config.reconstruction == "bce"
            else self.decoder(z).clamp(0, 1)
        )

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoded posterior mean, ``(N, 3, H, W)`` in [0, 1]."""
        return self.decode(self.encode(x))

    @staticmethod
    def reconstruction_metrics(x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, float]:
        """Pixel MSE and PSNR (dB, peak 1) between images in [0, 1], averaged over images."""
        mse = (x - x_hat).pow(2).flatten(1).mean(dim=1)
        psnr = -10 * torch.log10(mse.clamp_min(1e-10))
        return {"mse": float(mse.mean()), "psnr": float(psnr.mean())}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pixel outputs (logits for bce), posterior mean and log-variance."""
        mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decoder(z), mu, logvar

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out, mu, logvar = self(x)
        if self.config.reconstruction == "bce":
            rec = F.binary_cross_entropy_with_logits(out, x, reduction="sum") / x.shape[0]
        else:
            rec = 0.5 * F.mse_loss(out, x, reduction="sum") / x.shape[0]
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1).mean()
        return {"loss": rec + self.config.beta * kl, "reconstruction": rec, "kl": kl}
