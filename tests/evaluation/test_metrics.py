"""Every metric on hand-made inputs whose answer is known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cemap.concepts import ATTRIBUTES
from cemap.evaluation.metrics import (
    coherence,
    diversity,
    frechet_distance,
    metric_name,
    prefixed,
    retrieval_recall,
)

N_COLORS = 6


def balanced_targets() -> np.ndarray:
    """Every (digit, colour, digit, colour) combination once: each class equally frequent."""
    return np.array(list(itertools.product(range(10), range(N_COLORS), range(10), range(N_COLORS))))


def test_perfect_generator_is_fully_coherent():
    target = balanced_targets()
    scores = coherence(target.copy(), target)
    assert scores == {"strict": 1.0, **dict.fromkeys(ATTRIBUTES, 1.0)}


def test_constant_generator_scores_chance_on_each_attribute():
    target = balanced_targets()
    constant = np.broadcast_to(np.array([3, 2, 7, 5]), target.shape)
    scores = coherence(constant, target)
    assert scores["digit_left"] == pytest.approx(1 / 10)
    assert scores["digit_right"] == pytest.approx(1 / 10)
    assert scores["color_left"] == pytest.approx(1 / N_COLORS)
    assert scores["color_right"] == pytest.approx(1 / N_COLORS)
    assert scores["strict"] == pytest.approx(1 / (10 * N_COLORS * 10 * N_COLORS))


def test_coherence_averages_samples_per_prompt_and_counts_unreadable_as_wrong():
    target = np.array([[1, 0, 2, 1], [3, 1, 4, 0]])
    pred = np.stack([target, target], axis=1).copy()  # (N=2, S=2, 4)
    pred[0, 1] = [1, 0, 2, 2]  # one sample with the right colour wrong
    pred[1, 0] = [-1, -1, -1, -1]  # one unreadable sample
    scores = coherence(pred, target)
    assert scores["strict"] == pytest.approx(2 / 4)
    assert scores["digit_left"] == pytest.approx(3 / 4)
    assert scores["color_right"] == pytest.approx(2 / 4)
    assert coherence(pred, np.stack([target, target], axis=1)) == scores


def test_coherence_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="coherence needs"):
        coherence(np.zeros((3, 4), int), np.zeros((4, 4), int))


def test_metric_names_follow_the_documented_scheme():
    assert metric_name("coherence", "text_to_image", "test", "strict") == (
        "coherence/text_to_image/test/strict"
    )
    assert prefixed({"digit_left": 0.5}, "coherence", "text_to_image", "heldout_pairs") == {
        "coherence/text_to_image/heldout_pairs/digit_left": 0.5
    }
    with pytest.raises(ValueError):
        metric_name("coherence", "a/b")


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_retrieval_is_perfect_for_identical_embeddings(metric):
    emb = np.random.default_rng(0).normal(size=(2000, 16))
    scores = retrieval_recall(emb, emb.copy(), ks=(1, 10), metric=metric, chunk_size=300)
    assert scores == {"recall@1": 1.0, "recall@10": 1.0}


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_retrieval_of_random_embeddings_is_k_over_n(metric):
    rng = np.random.default_rng(1)
    n, runs = 500, 8
    recalls = [
        retrieval_recall(rng.normal(size=(n, 8)), rng.normal(size=(n, 8)), (1, 10, 50), metric)
        for _ in range(runs)
    ]
    for k in (1, 10, 50):
        mean = np.mean([r[f"recall@{k}"] for r in recalls])
        stderr = np.sqrt(k / n * (1 - k / n) / (n * runs))
        assert abs(mean - k / n) < 4 * stderr + 1e-9


def test_retrieval_breaks_ties_at_random_in_expectation():
    # Every gallery item equal: the match is one of N tied items, so recall@k = k / N exactly.
    scores = retrieval_recall(np.ones((20, 3)), np.ones((20, 3)), ks=(1, 5, 40))
    assert scores == pytest.approx({"recall@1": 1 / 20, "recall@5": 5 / 20, "recall@40": 1.0})


def test_frechet_distance_is_zero_for_identical_sets():
    feats = np.random.default_rng(2).normal(size=(500, 6))
    assert frechet_distance(feats, feats.copy()) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_shifted_gaussians_is_the_squared_mean_shift():
    rng = np.random.default_rng(3)
    mixing = rng.normal(size=(4, 4))  # a common, non-diagonal covariance
    shift = np.array([1.0, -2.0, 0.5, 3.0])
    a = rng.normal(size=(40_000, 4)) @ mixing
    b = rng.normal(size=(40_000, 4)) @ mixing + shift
    assert frechet_distance(a, b) == pytest.approx(shift @ shift, rel=0.02)


def test_frechet_distance_survives_singular_covariances():
    rng = np.random.default_rng(4)
    a = np.zeros((100, 5))
    a[:, 0] = rng.normal(size=100)  # rank one
    value = frechet_distance(a, a + 1.0)
    assert np.isfinite(value)
    assert value == pytest.approx(5.0, rel=1e-3)


def test_diversity_is_zero_for_identical_samples_and_the_pair_distance_otherwise():
    prompt = np.random.default_rng(5).random((1, 1, 28, 56, 3))
    assert diversity(np.repeat(prompt, 4, axis=1)) == 0.0
    samples = np.array([[[0.0, 0.0], [3.0, 4.0]], [[1.0, 1.0], [1.0, 1.0]]])  # (P=2, S=2, F=2)
    assert diversity(samples) == pytest.approx((5.0 + 0.0) / 2)
    with pytest.raises(ValueError, match="S >= 2"):
        diversity(np.zeros((3, 1, 4)))
