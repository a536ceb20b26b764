"""The diagnostic ladder: where each direction s→t loses its points.

Each rung adds one stage of the chain from a source sample to a judged target, so the drop
from one rung to the next is the loss of that stage (docs/design.md §5):

- ``real``: the judge on real t — what the judge itself gets right;
- ``autoencoder``: x_t → e_t → t's autoencoder decoder → judge — the ceiling of every →t;
- ``joint_self``: e_t → mean of q_t → dec_t → autoencoder decoder → judge;
- ``cross``: e_s → mean of q_s → dec_t → autoencoder decoder → judge (the coherence of a
  direction generated straight through the latent);
- ``routed``: only for a direction the generator routes through a third modality's data
  (``cemap.joint.generation``: image→speech speaks the sentence generated from the image) —
  its coherence, ``cross`` being the straight path beside it;
- ``latent_readout``: what z_s knows — a small non-linear classifier of the four attributes,
  fitted on train latents (evaluation only), read on the split's z_s;
- ``embedding_error``: in t's normalised embedding space, the mean squared error of
  dec_t(z_s) (``cross_mse``) against that of dec_t(z_t) (``self_mse``), and the mean squared
  distance from dec_t(z_s) to its nearest real training e_t (``nearest_real``; the same for
  the real e_t of the split is ``real_nearest_real``, the spacing of the data itself).

Metric names: ``ladder/<source>_to_<target>/<rung>/<split>/<measure>``, measure ``strict`` or
one attribute for the judged rungs. Labels only judge here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from cemap.evaluation.judges import AttributeJudge, attribute_heads, train_judge
from cemap.evaluation.labels import encode_attributes, palette_of
from cemap.evaluation.metrics import (
    DIRECTIONS,
    LADDER_RUNGS,
    MEASURES,
    coherence,
    metric_name,
    prefixed,
)
from cemap.evaluation.scoring import splits_from
from cemap.joint.generation import ConditionalGenerator
from cemap.joint.training import latent_means
from cemap.torch_runtime import seed_everything
from cemap.training import TrainConfig

RUNGS = LADDER_RUNGS
#: The latent readout's budget: a few seconds per source on 12k latents.
READOUT_TRAINING = TrainConfig(epochs=30, batch_size=256, lr=2e-3, patience=5, progress=False)
#: Reads ``(N, 4)`` label indices from a target modality's outputs (images, sentences, log-mels).
Reader = Callable[[Any], np.ndarray]


@dataclass
class LatentReadoutConfig:
    colors: list[str] = field(default_factory=list)
    latent_dim: int = 16
    hidden_dim: int = 128


class LatentReadout(AttributeJudge):
    """A two-layer perceptron with the judges' four heads, on joint latents ``(N, d)``."""

    kind: ClassVar[str] = "latent_readout"
    modality: ClassVar[str] = "latent"

    def __init__(self, config: LatentReadoutConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden_dim
        self.body = nn.Sequential(
            nn.Linear(config.latent_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU()
        )
        self.heads = attribute_heads(h, len(config.colors))

    @staticmethod
    def inputs_from(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=torch.float32)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = self.body(x)
        return features, [head(features) for head in self.heads]


def _rows(metadata: pd.DataFrame, split: str) -> np.ndarray:
    return np.flatnonzero((metadata["split"] == split).to_numpy())


def _normalised(generator: ConditionalGenerator, modality: str, e: Any) -> torch.Tensor:
    model = generator.joint_model
    return model.normalizers[modality](torch.as_tensor(e, dtype=torch.float32).to(model.device))


def _mean_nearest(points: torch.Tensor, reference: torch.Tensor, chunk: int = 1024) -> float:
    """Mean over ``points`` of the squared distance to the nearest ``reference`` row, per
    dimension."""
    best = []
    for start in range(0, len(points), chunk):
        d = torch.cdist(points[start : start + chunk], reference)
        best.append(d.min(dim=1).values.pow(2))
    return float(torch.cat(best).mean()) / points.shape[1]


def _mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).mean())


def measure_ladder(
    generator: ConditionalGenerator,
    readers: Mapping[str, Reader],
    real: Mapping[str, Any],
    embeddings: Mapping[str, np.ndarray],
    metadata: pd.DataFrame,
    coherence_metrics: Mapping[str, float],
    *,
    seed: int = 0,
    readout_training: TrainConfig | None = None,
    splits: Sequence[str] | None = None,
    directions: Sequence[tuple[str, str]] = DIRECTIONS,
) -> dict[str, float]:
    """Every rung of every direction and split present in ``metadata`` (see module docstring;
    the splits of each source as :func:`cemap.evaluation.scoring.splits_from` says, so
    ``unseen_voices`` only from speech).

    ``generator`` holds the joint model and the autoencoder of every target; ``readers`` the
    judge of each target modality; ``real`` each modality's raw data in metadata row order
    (images, sentences, log-mels); ``coherence_metrics`` the ``coherence/...`` metrics of
    :func:`cemap.evaluation.scoring.score_coherence`, reused as the ``cross`` rung (as the
    ``routed`` one for a direction in ``generator.routes``, whose ``cross`` is generated here).
    """
    colors = palette_of(metadata)
    targets = sorted({t for _, t in directions})
    sources = sorted({s for s, _ in directions})
    splits_of = {s: splits_from(metadata, s, splits) for s in sources}
    present = list(dict.fromkeys(split for s in sources for split in splits_of[s]))
    train = _rows(metadata, "train")
    truth = {s: encode_attributes(metadata.iloc[_rows(metadata, s)], colors) for s in present}
    scores: dict[str, float] = {}

    # Rungs that depend on the target only, computed once per target and split it is read on.
    per_target: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for t in targets:
        needed = {split for s, t2 in directions if t2 == t for split in splits_of[s]}
        for split in (split for split in present if split in needed):
            rows = _rows(metadata, split)
            e_t = embeddings[t][rows]
            real_t = real[t][rows] if not isinstance(real[t], list) else [real[t][i] for i in rows]
            per_target[t, split] = {
                "real": coherence(readers[t](real_t), truth[split]),
                "autoencoder": coherence(
                    readers[t](generator.render(t, torch.as_tensor(e_t, dtype=torch.float32))),
                    truth[split],
                ),
                "joint_self": coherence(
                    readers[t](generator.generate(t, e_t, t, embeddings=True)), truth[split]
                ),
            }

    # What each source's latent knows: one readout per source, fitted on train latents.
    readout: dict[str, AttributeJudge] = {}
    latents: dict[str, np.ndarray] = {}
    if generator.joint_model.objective.has_latent:  # regression has no latent to read
        labels = encode_attributes(metadata, colors)
        val = _rows(metadata, "val")
        config = replace(readout_training or READOUT_TRAINING, seed=seed)
        latents = latent_means(generator.joint_model, {s: embeddings[s] for s in sources})
        for s in sources:
            z = latents[s]
            seed_everything(seed)
            model = LatentReadout(LatentReadoutConfig(colors, z.shape[1]))
            readout[s], _ = train_judge(
                model,
                z[train],
                labels[train],
                z[val],
                labels[val],
                replace(config, name=f"latent readout of z_{s}"),
            )

    for s, t in directions:
        name = f"{s}_to_{t}"
        reference = _normalised(generator, t, embeddings[t][train])
        for split in splits_of[s]:
            rows = _rows(metadata, split)
            for rung, values in per_target[t, split].items():
                scores.update(prefixed(values, "ladder", name, rung, split))
            routed = (s, t) in generator.routes
            for measure in MEASURES:
                key = metric_name("coherence", name, split, measure)
                if key in coherence_metrics:
                    rung = "routed" if routed else "cross"
                    scores[metric_name("ladder", name, rung, split, measure)] = float(
                        coherence_metrics[key]
                    )
            if routed:
                straight = generator.generate(
                    s, embeddings[s][rows], t, embeddings=True, direct=True
                )
                scores.update(
                    prefixed(
                        coherence(readers[t](straight), truth[split]),
                        "ladder",
                        name,
                        "cross",
                        split,
                    )
                )
            if s in readout:
                pred = readout[s].predict_array(latents[s][rows])
                scores.update(
                    prefixed(coherence(pred, truth[split]), "ladder", name, "latent_readout", split)
                )
            model = generator.joint_model
            x_t = _normalised(generator, t, embeddings[t][rows])
            cross = _normalised(generator, t, model.translate(embeddings[s][rows], s, t))
            own = _normalised(generator, t, model.translate(embeddings[t][rows], t, t))
            error = {
                "cross_mse": _mse(cross, x_t),
                "self_mse": _mse(own, x_t),
                "nearest_real": _mean_nearest(cross, reference),
                "real_nearest_real": _mean_nearest(x_t, reference),
            }
            scores.update(prefixed(error, "ladder", name, "embedding_error", split))
    return scores


def ladder_table(metrics: Mapping[str, float], split: str = "test") -> pd.DataFrame:
    """Strict accuracy of every rung (columns, in :data:`RUNGS` order) per direction (rows)."""
    rows = {}
    for s, t in DIRECTIONS:
        name = f"{s}_to_{t}"
        rows[name] = {
            rung: metrics.get(metric_name("ladder", name, rung, split, "strict"), np.nan)
            for rung in RUNGS
        }
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(RUNGS))


def plot_ladder(metrics: Mapping[str, float], split: str = "test") -> Figure:
    """Grouped bars: strict accuracy of each rung (colours) for each direction (groups)."""
    table = ladder_table(metrics, split)
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    ax = figure.subplots()
    width = 0.8 / len(RUNGS)
    x = np.arange(len(table))
    for k, rung in enumerate(RUNGS):
        ax.bar(x + (k - (len(RUNGS) - 1) / 2) * width, table[rung] * 100, width, label=rung)
    ax.set_xticks(x, [name.replace("_to_", " → ") for name in table.index], fontsize=8)
    ax.set_ylabel(f"strict accuracy, {split} (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncols=len(RUNGS), loc="upper center", bbox_to_anchor=(0.5, 1.15))
    ax.set_title("Where each direction loses its points", fontsize=9, pad=24)
    return figure
