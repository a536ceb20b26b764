"""A small stand-in for the real embeddings: three noisy linear views of shared factors.

The shared factors are the one-hot codes of the four attributes (digit and colour, left and
right), exactly what the real modalities have in common; each view also carries private
factors (a speaker's voice, say) that no other view can predict. Tests, the speed scripts and
ablations use it when the real embeddings are not at hand.
"""

from __future__ import annotations

import numpy as np

from cemap.concepts import ATTRIBUTES

N_CLASSES = {"digit_left": 10, "color_left": 6, "digit_right": 10, "color_right": 6}


def synthetic_paired_embeddings(
    n: int,
    embedding_dims: dict[str, int] | None = None,
    noise: float = 0.3,
    n_private: int = 4,
    seed: int = 0,
    views_seed: int = 1234,
    n_classes: dict[str, int] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``n`` paired samples: ``({modality: (n, D) float32}, {attribute: (n,) int64})``.

    e_m = onehot(attributes) · A_m + u_m · B_m + noise·ε, with the view matrices A_m, B_m fixed
    by ``views_seed`` (so train and test drawn with different ``seed`` share the same views).
    ``n_classes`` overrides the classes per attribute (10 digits, 6 colours) for easier problems.
    """
    classes = {**N_CLASSES, **(n_classes or {})}
    dims = embedding_dims or {"image": 64, "text": 32, "speech": 64}
    rng = np.random.default_rng(seed)
    labels = {a: rng.integers(0, classes[a], size=n) for a in ATTRIBUTES}
    shared = np.concatenate([np.eye(classes[a])[labels[a]] for a in ATTRIBUTES], axis=1)
    views = np.random.default_rng(views_seed)
    embeddings = {}
    for m, dim in dims.items():
        a = views.normal(size=(shared.shape[1], dim)) / np.sqrt(len(ATTRIBUTES))
        b = views.normal(size=(n_private, dim)) / np.sqrt(n_private)
        private = rng.normal(size=(n, n_private))
        e = shared @ a + private @ b + noise * rng.normal(size=(n, dim))
        embeddings[m] = e.astype(np.float32)
    return embeddings, {a: v.astype(np.int64) for a, v in labels.items()}
