"""Linear probes: how much of an attribute an embedding exposes linearly (evaluation only)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def subsample_rows(rows: np.ndarray, max_count: int | None, seed: int) -> np.ndarray:
    """At most ``max_count`` of ``rows`` (sorted indices), a seeded subsample; all if fewer."""
    rows = np.asarray(rows)
    if max_count is not None and len(rows) > max_count:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_count, replace=False))
    return rows


def linear_probe_accuracy(
    train_emb: np.ndarray,
    train_labels: np.ndarray,
    test_emb: np.ndarray,
    test_labels: np.ndarray,
    max_iter: int = 2000,
) -> float:
    """Test accuracy of a logistic regression fitted on standardised train embeddings.

    ``*_emb`` are ``(N, D)`` embeddings, ``*_labels`` ``(N,)`` class labels of one attribute.
    Labels are used here only to judge an embedding, never to train one.
    """
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    probe.fit(np.asarray(train_emb, dtype=np.float64), np.asarray(train_labels))
    return float(probe.score(np.asarray(test_emb, dtype=np.float64), np.asarray(test_labels)))
