"""Evaluation metrics on plain arrays: coherence, retrieval, Fréchet distance, diversity.

Metric names (MLflow keys and report rows) are ``/``-separated paths; modalities are ``image``,
``text``, ``speech``; splits those of :data:`cemap.concepts.EVALUATION_SPLITS` (``test``,
``heldout_tuples``, ``heldout_pairs``)::

    judge/<modality>/<split>/<measure>                 judge accuracy on real data
    coherence/<source>_to_<target>/<split>/<measure>   generated <target> judged against the
                                                       labels of the <source> prompt
    retrieval/<source>_to_<target>/<split>/recall@<k>  query <source>, gallery <target>
    alignment/<distance>/<modality>_<modality>/<split> mean D(q_m, q_n) (joint model's distances)
    frechet/<source>_to_<target>/<split>               generated vs real, judge feature space
    diversity/<source>_to_<target>/<split>             spread of the samples of one prompt

``<measure>`` is ``strict`` (all four attributes right) or one attribute of
:data:`cemap.concepts.ATTRIBUTES` (``digit_left``, ``color_left``, ``digit_right``,
``color_right``), e.g. ``coherence/text_to_image/test/strict``,
``coherence/text_to_image/heldout_pairs/digit_left``. Build them with :func:`metric_name` /
:func:`prefixed`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import scipy.linalg

from cemap.concepts import ATTRIBUTES

STRICT = "strict"
MEASURES = (STRICT, *ATTRIBUTES)
#: The judged rungs of the diagnostic ladder in chain order (``cemap.evaluation.ladder``).
LADDER_RUNGS = ("real", "autoencoder", "joint_self", "cross", "routed", "latent_readout")
# The six (source, target) generation directions that are scored, images first.
DIRECTIONS = (
    ("text", "image"),
    ("speech", "image"),
    ("image", "text"),
    ("image", "speech"),
    ("text", "speech"),
    ("speech", "text"),
)


def metric_name(*parts: str) -> str:
    """``metric_name("coherence", "text_to_image", "test", "strict")`` -> the ``/``-joined key."""
    bad = [p for p in parts if not p or "/" in p]
    if bad:
        raise ValueError(f"Metric name parts must be non-empty and free of '/'; got {list(parts)}.")
    return "/".join(parts)


def direction(source: str, target: str) -> str:
    """``direction("text", "image")`` -> ``"text_to_image"``."""
    return f"{source}_to_{target}"


def prefixed(scores: Mapping[str, float], *prefix: str) -> dict[str, float]:
    """``scores`` with every key under ``prefix``: ``{"strict": .9}`` -> ``{"a/b/strict": .9}``."""
    return {metric_name(*prefix, key): float(value) for key, value in scores.items()}


def coherence(
    pred: np.ndarray, target: np.ndarray, attribute_names: Sequence[str] = ATTRIBUTES
) -> dict[str, float]:
    """Fraction of generations whose judged attributes match the prompt's labels.

    ``pred`` is ``(N, 4)`` label indices judged on the generations (``-1`` = unreadable, always
    wrong), or ``(N, S, 4)`` for ``S`` samples per prompt; ``target`` is ``(N, 4)`` (the same
    for every sample) or ``pred``'s shape. Returns ``strict`` (all four right) and one accuracy
    per attribute, averaged over prompts and samples.
    """
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.ndim == 3 and target.ndim == 2:
        target = np.broadcast_to(target[:, None, :], pred.shape)
    n_attributes = len(attribute_names)
    if pred.shape != target.shape or pred.ndim not in (2, 3) or pred.shape[-1] != n_attributes:
        raise ValueError(
            f"coherence needs pred (N, {n_attributes}) or (N, S, {n_attributes}) and a target of "
            f"the same shape or (N, {n_attributes}); got {pred.shape} and {target.shape}."
        )
    if pred.size == 0:
        raise ValueError("coherence needs at least one prediction; got none.")
    if (target < 0).any():
        raise ValueError("coherence: target labels must be known (>= 0); -1 is for predictions.")
    hits = (pred == target).reshape(-1, n_attributes)
    scores = {STRICT: float(hits.all(axis=1).mean())}
    scores.update({name: float(hits[:, j].mean()) for j, name in enumerate(attribute_names)})
    return scores


def retrieval_recall(
    query_emb: np.ndarray,
    gallery_emb: np.ndarray,
    ks: Iterable[int] = (1, 10),
    metric: Literal["cosine", "euclidean"] = "cosine",
    chunk_size: int = 1024,
) -> dict[str, float]:
    """Recall@k of cross-modal retrieval: query ``i``'s true match is gallery item ``i``.

    ``query_emb`` and ``gallery_emb`` are ``(N, D)``, possibly from different spaces of the same
    width. Ties are broken uniformly at random in expectation: with ``b`` gallery items strictly
    closer than the match and ``t`` others as close, a query scores ``clip((k - b) / (t + 1))``,
    so duplicate embeddings neither help nor hurt. Distances are computed ``chunk_size`` queries
    at a time in float64.
    """
    query = np.asarray(query_emb, dtype=np.float64)
    gallery = np.asarray(gallery_emb, dtype=np.float64)
    ks = tuple(int(k) for k in ks)
    if query.ndim != 2 or query.shape != gallery.shape or len(query) == 0:
        raise ValueError(
            f"retrieval_recall needs query and gallery embeddings of the same shape (N, D), "
            f"N >= 1; got {query.shape} and {gallery.shape}."
        )
    if not ks or min(ks) < 1:
        raise ValueError(f"retrieval_recall: every k must be >= 1; got ks={ks}.")
    if metric == "cosine":
        query = query / np.linalg.norm(query, axis=1, keepdims=True).clip(min=1e-12)
        gallery = gallery / np.linalg.norm(gallery, axis=1, keepdims=True).clip(min=1e-12)
    elif metric != "euclidean":
        raise ValueError(f"retrieval_recall: metric={metric!r}; use 'cosine' or 'euclidean'.")
    gallery_sq = (gallery**2).sum(axis=1)
    hits = {k: 0.0 for k in ks}
    for start in range(0, len(query), chunk_size):
        q = query[start : start + chunk_size]
        rows = np.arange(len(q))
        if metric == "cosine":
            dist = -(q @ gallery.T)
        else:  # squared distances rank the same as distances
            dist = (q**2).sum(axis=1)[:, None] + gallery_sq[None, :] - 2.0 * (q @ gallery.T)
        true = dist[rows, start + rows][:, None]
        better = (dist < true).sum(axis=1)
        ties = (dist == true).sum(axis=1) - 1  # the match itself is not a tie
        for k in ks:
            hits[k] += float(np.clip((k - better) / (ties + 1), 0.0, 1.0).sum())
    return {f"recall@{k}": hits[k] / len(query) for k in ks}


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``(N, F)`` and ``(M, F)``.

        d² = ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½)

    As in FID: when the matrix square root is singular or not finite, ``eps·I`` is added to
    both covariances; a negligible imaginary part from rounding is dropped.
    """
    a = np.asarray(feats_a, dtype=np.float64)
    b = np.asarray(feats_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(
            f"frechet_distance needs two feature sets (N, F) and (M, F) with N, M >= 2; got "
            f"{a.shape} and {b.shape}."
        )
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():  # a singular product is expected; handled just below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(cov_a)) * eps
        covmean = scipy.linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            largest = np.abs(covmean.imag).max()
            raise ValueError(
                f"frechet_distance: the covariance square root has an imaginary "
                f"part of {largest:.3g}; the features may be degenerate."
            )
        covmean = covmean.real
    diff = mu_a - mu_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))


def diversity(samples: np.ndarray) -> float:
    """Mean Euclidean distance between the samples of one prompt, averaged over prompts.

    ``samples`` is ``(P, S, ...)``: ``S >= 2`` samples (features, embeddings or images; trailing
    dimensions are flattened) for each of ``P`` prompts. 0 when every prompt's samples are equal.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim < 3 or x.shape[1] < 2 or x.shape[0] == 0:
        raise ValueError(
            f"diversity needs (P, S, F...) samples with P >= 1 prompts and S >= 2 samples each; "
            f"got shape {x.shape}."
        )
    x = x.reshape(x.shape[0], x.shape[1], -1)
    # Explicit differences (not the Gram trick): identical samples give exactly 0. One pair at
    # a time keeps memory at one (P, F) slice.
    pairs = zip(*np.triu_indices(x.shape[1], k=1), strict=True)
    distances = [np.linalg.norm(x[:, i] - x[:, j], axis=1) for i, j in pairs]
    return float(np.mean(distances))
