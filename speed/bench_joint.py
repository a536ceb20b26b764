"""Joint-model training speed through ``cemap.training.fit`` against a bare PyTorch loop.

    python speed/bench_joint.py --epochs 3 --repeats 3 --threads 2

Both train the same ``JointEmbeddingModel`` (same config, data, batch size, optimiser and
per-step dual ascent) from the same initial weights: (a) a bare loop — shuffle, slice,
``loss``, ``backward``, ``step``, ``after_optimizer_step``, nothing else; (b) ``fit``, whose
``samples_per_second`` counts only its optimisation steps, and (c) ``fit`` end to end,
per-epoch validation included. The runs alternate (a, b, a, b, ...) so drift in whatever else
the machine is doing hits both; medians are compared.

Goal (docs/design.md §7): (b) at least 0.8 x (a). Data: the persisted embeddings under
``--data-root`` when the embeddings pipeline has written them, else the synthetic problem of
``cemap.joint.synthetic`` at the same sizes (say which in the output).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cemap.concepts import MODALITIES
from cemap.joint import JointConfig, JointEmbeddingModel
from cemap.joint.synthetic import synthetic_paired_embeddings
from cemap.torch_runtime import seed_everything, select_device
from cemap.training import TrainConfig, fit


def load_embeddings(data_root: Path, n_train: int) -> tuple[dict, dict, str]:
    """(train, val) embeddings per modality and where they came from."""
    files = {m: data_root / "05_model_input" / f"{m}_embeddings.npy" for m in MODALITIES}
    metadata_file = data_root / "03_primary" / "metadata.parquet"
    if metadata_file.exists() and all(f.exists() for f in files.values()):
        split = pd.read_parquet(metadata_file, columns=["split"])["split"].to_numpy()
        arrays = {m: np.load(f).astype(np.float32) for m, f in files.items()}
        train = {m: a[split == "train"] for m, a in arrays.items()}
        val = {m: a[split == "val"] for m, a in arrays.items()}
        return train, val, f"persisted embeddings in {data_root}"
    dims = {"image": 64, "text": 64, "speech": 64}
    train, _ = synthetic_paired_embeddings(n_train, dims, seed=0)
    val, _ = synthetic_paired_embeddings(n_train // 6, dims, seed=1)
    return train, val, "synthetic embeddings (no persisted ones found)"


def bare_loop(model: JointEmbeddingModel, train: tuple, config: TrainConfig) -> float:
    """Training samples per second of the plainest loop that trains the same way."""
    device = select_device(config.device)
    model.to(device).train()
    train = tuple(t.to(device) for t in train)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    shuffle = torch.Generator().manual_seed(config.seed)
    n = train[0].shape[0]
    started = time.perf_counter()
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=shuffle).to(device)
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            terms = model.loss(*(t[idx] for t in train))
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            model.after_optimizer_step({k: v.detach() for k, v in terms.items()})
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n * config.epochs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--n-train", type=int, default=12000, help="synthetic data only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train, val, source = load_embeddings(args.data_root, args.n_train)
    to_tensors = lambda split: tuple(torch.from_numpy(split[m]) for m in MODALITIES)  # noqa: E731
    train_t, val_t = to_tensors(train), to_tensors(val)
    config = JointConfig(embedding_dims={m: train[m].shape[1] for m in MODALITIES})
    seed_everything(0)
    initial = JointEmbeddingModel(config)
    initial.fit_normalizers(*train_t)
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        patience=args.epochs + 1,  # never stop early: equal work in both
        device=args.device,
        mixed_precision=False,  # the bare loop runs in fp32 too
        progress=False,
        name="bench_joint",
    )
    n_params = sum(p.numel() for p in initial.parameters())
    print(f"data: {source}; {len(train_t[0])} train / {len(val_t[0])} val samples")
    print(
        f"model: {n_params:,} parameters, config {config}; device "
        f"{select_device(args.device)}, {args.threads} threads, {args.epochs} epochs x "
        f"{args.repeats} repeats, batch {args.batch_size}"
    )

    bare, fit_steps, fit_total = [], [], []
    for _ in range(args.repeats):
        seed_everything(0)
        bare.append(bare_loop(copy.deepcopy(initial), train_t, train_config))
        result = fit(copy.deepcopy(initial), train_t, val_t, train_config)
        fit_steps.append(result.samples_per_second)
        fit_total.append(len(train_t[0]) * len(result.history) / result.seconds)

    a, b, c = (statistics.median(x) for x in (bare, fit_steps, fit_total))
    print(f"(a) bare loop                       {a:10.0f} samples/s   runs: {_fmt(bare)}")
    print(f"(b) fit, optimisation steps         {b:10.0f} samples/s   runs: {_fmt(fit_steps)}")
    print(f"(c) fit, with per-epoch validation  {c:10.0f} samples/s   runs: {_fmt(fit_total)}")
    print(f"ratio (b)/(a) = {b / a:.2f}  (goal >= 0.80);  (c)/(a) = {c / a:.2f}")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


if __name__ == "__main__":
    main()
