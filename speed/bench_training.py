"""Image-VAE training speed through ``cemap.training.fit`` against a bare PyTorch loop.

    python speed/bench_training.py --epochs 2 --repeats 3 --threads 2

Both train the same ``ImageVAE`` (embeddings pipeline defaults: same config, data on the
device, batch size and AdamW) from the same initial weights: (a) a bare loop — shuffle, slice,
``loss``, ``backward``, ``step``, nothing else; (b) ``fit``, whose ``samples_per_second``
counts only its optimisation steps; (c) ``fit`` end to end, per-epoch validation included.
Runs alternate (a, b, a, b, ...) so drift in whatever else the machine does hits both; medians
are compared.

Goal (docs/design.md §7): (b) at least 0.8 x (a). Data: the images under ``--data-root`` when
data_generation has written them, else random tinted noise of the same shape (the output says
which); the speed of a convolution does not depend on what the pixels show.
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

from cemap.models import ImageVAE
from cemap.pipelines.embeddings.params import ImageParams
from cemap.torch_runtime import seed_everything, select_device
from cemap.training import TrainConfig, fit


def load_images(data_root: Path, n_train: int, n_val: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(train, val) images ``(N, 28, 56, 3) uint8`` and where they came from."""
    images_file = data_root / "03_primary" / "images.npy"
    metadata_file = data_root / "03_primary" / "metadata.parquet"
    if images_file.exists() and metadata_file.exists():
        split = pd.read_parquet(metadata_file, columns=["split"])["split"].to_numpy()
        images = np.load(images_file, mmap_mode="r")
        train = np.asarray(images[np.flatnonzero(split == "train")[:n_train]])
        val = np.asarray(images[np.flatnonzero(split == "val")[:n_val]])
        return train, val, f"images in {data_root}"
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(n_train + n_val, 28, 56, 3), dtype=np.uint8)
    return noise[:n_train], noise[n_train:], "random images (no persisted ones found)"


def bare_loop(model: ImageVAE, train: torch.Tensor, config: TrainConfig) -> float:
    """Training samples per second of the plainest loop that trains the same way."""
    device = select_device(config.device)
    model.to(device).train()
    train = train.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    shuffle = torch.Generator().manual_seed(config.seed)
    n = train.shape[0]
    started = time.perf_counter()
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=shuffle).to(device)
        for start in range(0, n, config.batch_size):
            loss = model.loss(train[order[start : start + config.batch_size]])["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n * config.epochs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--n-train", type=int, default=12000)
    parser.add_argument("--n-val", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train_images, val_images, source = load_images(args.data_root, args.n_train, args.n_val)
    train, val = ImageVAE.inputs_from(train_images), ImageVAE.inputs_from(val_images)
    defaults = ImageParams()
    seed_everything(0)
    initial = ImageVAE.from_training_data(defaults.autoencoder_config(), train_images)
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=defaults.training.lr,
        patience=args.epochs + 1,  # never stop early: equal work in both
        device=args.device,
        mixed_precision=False,  # the bare loop runs in fp32 too
        progress=False,
        name="bench_training",
    )
    n_params = sum(p.numel() for p in initial.parameters())
    print(f"data: {source}; {len(train)} train / {len(val)} val images")
    print(
        f"model: ImageVAE, {n_params:,} parameters, {initial.config}; device "
        f"{select_device(args.device)}, {args.threads} threads, {args.epochs} epochs x "
        f"{args.repeats} repeats, batch {args.batch_size}"
    )

    bare, fit_steps, fit_total = [], [], []
    for _ in range(args.repeats):
        seed_everything(0)
        bare.append(bare_loop(copy.deepcopy(initial), train, config))
        result = fit(copy.deepcopy(initial), (train,), (val,), config)
        fit_steps.append(result.samples_per_second)
        fit_total.append(len(train) * len(result.history) / result.seconds)

    a, b, c = (statistics.median(x) for x in (bare, fit_steps, fit_total))
    print(f"(a) bare loop                    {a:10.0f} samples/s   runs: {_fmt(bare)}")
    print(f"(b) fit, optimisation steps      {b:10.0f} samples/s   runs: {_fmt(fit_steps)}")
    print(f"(c) fit, with validation         {c:10.0f} samples/s   runs: {_fmt(fit_total)}")
    verdict = "meets" if b >= 0.8 * a else "MISSES"
    print(f"ratio (b)/(a) = {b / a:.3f}  ({verdict} the >= 0.8 goal);  (c)/(a) = {c / a:.3f}")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


if __name__ == "__main__":
    main()
