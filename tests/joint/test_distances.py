"""Closed-form distances between diagonal Gaussians against Monte Carlo and numeric estimates."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Independent, Normal

from cemap.joint.distances import (
    DiagonalGaussian,
    kl_divergence,
    kl_to_standard_normal,
    make_distance,
    mmd,
    symmetric_kl,
    wasserstein2,
)


def _random_gaussians(n: int, d: int, seed: int) -> tuple[DiagonalGaussian, DiagonalGaussian]:
    g = torch.Generator().manual_seed(seed)
    p = DiagonalGaussian(torch.randn(n, d, generator=g), 0.5 * torch.randn(n, d, generator=g))
    q = DiagonalGaussian(torch.randn(n, d, generator=g), 0.5 * torch.randn(n, d, generator=g))
    return p, q


def _torch_normal(p: DiagonalGaussian) -> Independent:
    return Independent(Normal(p.mu, p.std), 1)


def test_kl_matches_monte_carlo():
    torch.manual_seed(0)
    p, q = _random_gaussians(4, 3, seed=1)
    x = _torch_normal(p).sample((200_000,))  # (S, N, d)
    monte_carlo = (_torch_normal(p).log_prob(x) - _torch_normal(q).log_prob(x)).mean(0)
    torch.testing.assert_close(kl_divergence(p, q), monte_carlo, rtol=0.03, atol=0.02)


def test_kl_to_standard_normal_is_kl_to_unit_gaussian():
    p, _ = _random_gaussians(5, 4, seed=2)
    unit = DiagonalGaussian(torch.zeros(5, 4), torch.zeros(5, 4))
    torch.testing.assert_close(kl_to_standard_normal(p), kl_divergence(p, unit))


def test_kl_is_zero_for_identical_and_positive_otherwise():
    p, q = _random_gaussians(6, 5, seed=3)
    torch.testing.assert_close(kl_divergence(p, p), torch.zeros(6), atol=1e-6, rtol=0)
    assert (kl_divergence(p, q) > 0).all()


def test_symmetric_kl_is_symmetric_and_halves_jeffreys():
    p, q = _random_gaussians(6, 5, seed=4)
    torch.testing.assert_close(symmetric_kl(p, q), symmetric_kl(q, p))
    torch.testing.assert_close(
        symmetric_kl(p, q), 0.5 * (kl_divergence(p, q) + kl_divergence(q, p))
    )
    assert not torch.allclose(kl_divergence(p, q), kl_divergence(q, p))


def test_wasserstein2_matches_sorted_sample_coupling():
    # For product measures W₂² is the sum over dimensions of the 1-D W₂², and in 1-D the
    # optimal coupling matches sorted samples (quantile coupling).
    torch.manual_seed(0)
    p, q = _random_gaussians(3, 4, seed=5)
    n = 200_000
    x = torch.sort(_torch_normal(p).sample((n,)), dim=0).values
    y = torch.sort(_torch_normal(q).sample((n,)), dim=0).values
    numeric = (x - y).pow(2).mean(0).sum(-1)
    torch.testing.assert_close(wasserstein2(p, q), numeric, rtol=0.03, atol=0.02)


def test_mmd_is_near_zero_for_identical_and_clearly_positive_for_distinct():
    torch.manual_seed(0)
    p, q = _random_gaussians(512, 4, seed=6)
    for kernel in ("rbf", "imq"):
        same = mmd(p, p, n_samples=16, kernel=kernel)
        different = mmd(p, q, n_samples=16, kernel=kernel)
        assert abs(same.mean().item()) < 0.01
        assert different.mean().item() > 10 * abs(same.mean().item())
        assert different.mean().item() > 0.05


@pytest.mark.parametrize("name", ["kl", "symmetric_kl", "wasserstein2", "mmd"])
def test_every_distance_gives_one_value_per_pair_with_finite_gradients(name):
    p, q = _random_gaussians(7, 3, seed=7)
    mu = p.mu.clone().requires_grad_(True)
    distance = make_distance(name)(DiagonalGaussian(mu, p.logvar), DiagonalGaussian(mu, p.logvar))
    assert distance.shape == (7,)
    distance.sum().backward()
    assert torch.isfinite(mu.grad).all()


def test_unknown_distance_and_kernel_are_rejected_with_the_choices():
    with pytest.raises(ValueError, match="wasserstein2"):
        make_distance("cosine")
    with pytest.raises(ValueError, match="imq"):
        make_distance("mmd", mmd_kernel="laplace")
