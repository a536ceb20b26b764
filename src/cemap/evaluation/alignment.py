"""How well the modalities meet in the joint latent space (evaluation only; labels judge here).

Two views, each a linear probe (logistic regression) predicting the four attributes:

- ``probe/<m>/<attribute>``: fitted on z_m of train, scored on z_m of test — does the latent of
  one modality expose the concepts;
- ``probe/<m>_to_<n>/<attribute>``: fitted on z_n of train, scored on z_m of test — do the
  proxy variables of different modalities land in the same place (``text_to_image`` is the
  text latents read by a probe that only ever saw image latents);

plus ``distance/<m>_<n>`` (the model's D averaged over test pairs) and a ``.../mean`` over the
attributes for every probe family.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import permutations

import numpy as np
import torch

from cemap.concepts import ATTRIBUTES
from cemap.evaluation.probes import linear_probe_accuracy, subsample_rows
from cemap.joint.model import JointEmbeddingModel

ProbeAccuracy = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], float]


@torch.no_grad()
def mean_distances(
    model: JointEmbeddingModel, embeddings: dict[str, np.ndarray], batch_size: int = 1024
) -> dict[str, float]:
    """``distance/<m>_<n>`` for the model's configured pairs and ``distance/mean`` over them;
    empty for an objective without posteriors (regression)."""
    objective = model.objective
    if not objective.has_latent:
        return {}
    n = len(next(iter(embeddings.values())))
    sums = dict.fromkeys(objective.pair_names, 0.0)
    for start in range(0, n, batch_size):
        q = {m: model.encode(e[start : start + batch_size], m) for m, e in embeddings.items()}
        for (m, k), name in zip(objective.pairs, objective.pair_names, strict=True):
            sums[name] += float(objective.distance(q[m], q[k]).sum())
    report = {f"distance/{name}": total / n for name, total in sums.items()}
    report["distance/mean"] = float(np.mean(list(report.values())))
    return report


def alignment_report(
    model: JointEmbeddingModel,
    embeddings: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    train_mask: np.ndarray,
    test_mask: np.ndarray,
    max_train: int | None = 3000,
    seed: int = 0,
    probe_accuracy: ProbeAccuracy | None = None,
) -> dict[str, float]:
    """Probe accuracies and test distances (see module docstring) for ``(N, D_m)`` embeddings
    and ``(N,)`` attribute labels, rows selected by boolean ``train_mask``/``test_mask``.

    ``max_train`` caps the probes' training rows (a seeded subsample) to bound their cost.
    """
    probe_accuracy = probe_accuracy or linear_probe_accuracy
    train = subsample_rows(np.flatnonzero(train_mask), max_train, seed)
    test = np.flatnonzero(test_mask)
    modalities = list(embeddings)
    latents = {m: model.latent_means(e, m).cpu().numpy() for m, e in embeddings.items()}

    report: dict[str, float] = {}

    def add(family: str, score: Callable[[str], float]) -> None:
        scores = {a: score(a) for a in ATTRIBUTES if a in labels}
        report.update({f"{family}/{a}": s for a, s in scores.items()})
        report[f"{family}/mean"] = float(np.mean(list(scores.values())))

    for m in modalities:
        add(
            f"probe/{m}",
            lambda a, m=m: probe_accuracy(
                latents[m][train], labels[a][train], latents[m][test], labels[a][test]
            ),
        )
    for m, n in permutations(modalities, 2):
        add(
            f"probe/{m}_to_{n}",
            lambda a, m=m, n=n: probe_accuracy(
                latents[n][train], labels[a][train], latents[m][test], labels[a][test]
            ),
        )
    report.update(mean_distances(model, {m: e[test] for m, e in embeddings.items()}))
    return report
