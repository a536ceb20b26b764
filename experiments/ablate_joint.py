"""Ablation of the joint objective: penalty vs Lagrangian, cross-reconstruction on/off, two D.

    python experiments/ablate_joint.py --epochs 40 --threads 1 [--data-root data] [--only NAME...]

Every variant trains from the same seed with the same budget (epochs, batch, lr, early
stopping on val) and is judged on test by linear probes (evaluation only):

- ``text→image``: a probe fitted on z_image (train) reading z_text (test) — do the text
  proxies land where the images of the same attributes do; mean over the four attributes;
- ``z_text``/``z_image``: probes fitted and scored within one modality;
- mean D on test: the variant's own D, plus W₂² and symmetric KL for every variant so the
  alignment is comparable across choices of D.

Data: the persisted embeddings under ``--data-root`` when present, else the synthetic problem.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cemap.concepts import ATTRIBUTES, MODALITIES
from cemap.evaluation.probes import linear_probe_accuracy
from cemap.joint import JointConfig, JointEmbeddingModel, symmetric_kl, wasserstein2
from cemap.joint.synthetic import synthetic_paired_embeddings
from cemap.torch_runtime import seed_everything
from cemap.training import TrainConfig, fit


def variants() -> dict[str, dict]:
    """The 2 x 2 x 2 grid: constraint x cross-reconstruction x distance."""
    grid = {}
    for constraint, gamma, distance in itertools.product(
        ("lagrangian", "penalty"), (1.0, 0.0), ("wasserstein2", "symmetric_kl")
    ):
        name = f"{constraint}/{'cross' if gamma else 'no_cross'}/{distance}"
        grid[name] = {"constraint": constraint, "gamma": gamma, "distance": distance}
    return grid


def load(data_root: Path) -> tuple[dict, dict, np.ndarray, str]:
    files = {m: data_root / "05_model_input" / f"{m}_embeddings.npy" for m in MODALITIES}
    metadata_file = data_root / "03_primary" / "metadata.parquet"
    if metadata_file.exists() and all(f.exists() for f in files.values()):
        metadata = pd.read_parquet(metadata_file)
        embeddings = {m: np.load(f).astype(np.float32) for m, f in files.items()}
        labels = {a: metadata[a].to_numpy() for a in ATTRIBUTES}
        return embeddings, labels, metadata["split"].to_numpy(), f"persisted ({data_root})"
    sizes = {"train": 12000, "val": 2000, "test": 2000}
    embeddings, labels = synthetic_paired_embeddings(
        sum(sizes.values()), {"image": 64, "text": 64, "speech": 64}, seed=0
    )
    split = np.repeat(list(sizes), list(sizes.values()))
    return embeddings, labels, split, "synthetic (no persisted embeddings found)"


@torch.no_grad()
def mean_test_distances(model: JointEmbeddingModel, test: dict[str, np.ndarray]) -> dict:
    q = {m: model.encode(e, m) for m, e in test.items()}
    pairs = model.objective.pairs
    own = np.mean([model.objective.distance(q[m], q[n]).mean().item() for m, n in pairs])
    w2 = np.mean([wasserstein2(q[m], q[n]).mean().item() for m, n in pairs])
    skl = np.mean([symmetric_kl(q[m], q[n]).mean().item() for m, n in pairs])
    return {"D_own": own, "W2": w2, "symKL": skl}


def run_variant(overrides, embeddings, labels, split, args) -> dict[str, float]:
    tensors = {
        s: tuple(torch.from_numpy(embeddings[m][split == s]) for m in MODALITIES)
        for s in ("train", "val")
    }
    config = JointConfig(
        embedding_dims={m: e.shape[1] for m, e in embeddings.items()},
        hidden_dim=args.hidden_dim,
        latent_dim=args.latent_dim,
        **overrides,
    )
    seed_everything(0)  # every variant starts from weights drawn with the same seed
    model = JointEmbeddingModel(config)
    model.fit_normalizers(*tensors["train"])
    started = time.perf_counter()
    result = fit(
        model,
        tensors["train"],
        tensors["val"],
        TrainConfig(epochs=args.epochs, patience=args.patience, progress=False, name="ablation"),
    )
    seconds = time.perf_counter() - started
    model = result.model
    train = np.flatnonzero(split == "train")
    train = np.random.default_rng(0).choice(train, min(args.probe_train, len(train)), False)
    test = split == "test"
    z = {m: model.latent_means(embeddings[m], m).numpy() for m in MODALITIES}

    def probe(fit_on: str, read: str) -> float:
        return float(
            np.mean(
                [
                    linear_probe_accuracy(
                        z[fit_on][train], labels[a][train], z[read][test], labels[a][test]
                    )
                    for a in ATTRIBUTES
                ]
            )
        )

    return {
        "text→image": probe("image", "text"),
        "speech→image": probe("image", "speech"),
        "z_text": probe("text", "text"),
        "z_image": probe("image", "image"),
        **mean_test_distances(model, {m: e[test] for m, e in embeddings.items()}),
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)  # the pipeline's budget
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--hidden-dim", type=int, default=JointConfig.hidden_dim)
    parser.add_argument("--latent-dim", type=int, default=JointConfig.latent_dim)
    parser.add_argument("--probe-train", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    embeddings, labels, split, source = load(args.data_root)
    print(f"data: {source}; dims { ({m: e.shape[1] for m, e in embeddings.items()}) }")
    print(
        f"budget: {args.epochs} epochs, patience {args.patience}, hidden {args.hidden_dim}, latent {args.latent_dim}"
    )
    columns = ["variant", "text→image", "speech→image", "z_text", "z_image", "D (own)", "W₂²"]
    columns += ["sym KL", "best/ran", "s"]
    print("| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
    for name, overrides in variants().items():
        if args.only and name not in args.only:
            continue
        r = run_variant(overrides, embeddings, labels, split, args)
        print(
            f"| {name} | {r['text→image']:.3f} | {r['speech→image']:.3f} | {r['z_text']:.3f} | "
            f"{r['z_image']:.3f} | {r['D_own']:.3f} | {r['W2']:.3f} | {r['symKL']:.3f} | "
            f"{r['best_epoch']}/{r['epochs']} | {r['seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
