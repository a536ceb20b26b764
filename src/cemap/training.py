"""The one training loop of CEMap: every model (autoencoders, joint latent model) trains here.

A model only has to implement ``loss(*batch) -> dict[str, Tensor]`` with a ``"loss"`` key (the
value optimised) and any other scalar terms to log. If it also has
``after_optimizer_step(terms)``, that is called after every optimizer step (the joint model
uses it for dual ascent on its Lagrange multiplier).

The data sets are small, so each split is moved to the device once and batches are cut from it
with a seeded permutation: no DataLoader, no per-item Python.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from cemap.torch_runtime import seed_everything, select_device


@dataclass
class TrainConfig:
    """How to train: budget, optimiser, early stopping, device and seed."""

    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5  # epochs without a better validation "loss" before stopping
    device: str = "auto"
    seed: int = 0
    mixed_precision: bool = True  # bf16 (or fp16 with loss scaling) autocast, on CUDA only
    progress: bool = True
    name: str = "model"  # names the model in the progress bar and in errors


@dataclass
class TrainResult:
    """The trained model (best validation epoch restored) and what happened on the way."""

    model: nn.Module
    # One dict per epoch: epoch, train/<term>, val/<term>, seconds.
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    # Training samples per second over the optimisation steps (validation excluded).
    samples_per_second: float = 0.0


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; training cannot recover from that on its own."""


def fit(
    model: nn.Module,
    train: tuple[torch.Tensor, ...],
    val: tuple[torch.Tensor, ...],
    config: TrainConfig,
) -> TrainResult:
    """Train ``model`` on ``train`` with early stopping on ``val``; returns the best model.

    ``train`` and ``val`` are tuples of tensors with the samples along dimension 0; one batch is
    ``model.loss(*(t[idx] for t in train))``. Deterministic on CPU for a fixed ``config.seed``.
    """
    _check_inputs(train, val, config)
    seed_everything(config.seed)
    device = select_device(config.device)
    model.to(device)
    train = tuple(t.to(device) for t in train)
    val = tuple(t.to(device) for t in val)
    n_train = train[0].shape[0]

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    autocast, scaler = _mixed_precision(device, config.mixed_precision)
    after_step: Callable[[dict[str, torch.Tensor]], None] | None = getattr(
        model, "after_optimizer_step", None
    )
    shuffle = torch.Generator().manual_seed(config.seed)

    result = TrainResult(model=model)
    best_loss, best_state, stale_epochs = math.inf, None, 0
    train_seconds, started = 0.0, time.perf_counter()
    bar = tqdm(
        range(1, config.epochs + 1), desc=config.name, disable=not config.progress, unit="epoch"
    )
    for epoch in bar:
        epoch_started = time.perf_counter()
        model.train()
        order = torch.randperm(n_train, generator=shuffle).to(device)
        sums: dict[str, torch.Tensor] = {}
        for start in range(0, n_train, config.batch_size):
            idx = order[start : start + config.batch_size]
            with autocast():
                terms = model.loss(*(t[idx] for t in train))
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                terms["loss"].backward()
                optimizer.step()
            else:
                scaler.scale(terms["loss"]).backward()
                scaler.step(optimizer)
                scaler.update()
            terms = {k: torch.as_tensor(v).detach() for k, v in terms.items()}
            if after_step is not None:
                after_step(terms)
            _accumulate(sums, terms, len(idx))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds += time.perf_counter() - epoch_started

        row = {"epoch": float(epoch)}
        row.update({f"train/{k}": v / n_train for k, v in _to_floats(sums).items()})
        row.update(
            {f"val/{k}": v for k, v in evaluate(model, val, config.batch_size, autocast).items()}
        )
        row["seconds"] = time.perf_counter() - epoch_started
        result.history.append(row)
        _check_finite(row, config.name, epoch)
        bar.set_postfix(
            {k: f"{v:.4g}" for k, v in row.items() if k in ("train/loss", "val/loss")},
            refresh=False,
        )

        if row["val/loss"] < best_loss:
            best_loss, result.best_epoch, stale_epochs = row["val/loss"], epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale_epochs += 1
            if stale_epochs >= config.patience:
                break
    bar.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    result.samples_per_second = n_train * len(result.history) / max(train_seconds, 1e-9)
    return result


def evaluate(
    model: nn.Module,
    data: tuple[torch.Tensor, ...],
    batch_size: int,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> dict[str, float]:
    """Sample-weighted mean of every term of ``model.loss`` over ``data``, in eval mode."""
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    n = data[0].shape[0]
    with torch.no_grad():
        for start in range(0, n, batch_size):
            batch = tuple(t[start : start + batch_size] for t in data)
            with autocast():
                terms = model.loss(*batch)
            _accumulate(sums, terms, batch[0].shape[0])
    return {k: v / n for k, v in _to_floats(sums).items()}


def predict_in_batches(
    fn: Callable[..., torch.Tensor],
    inputs: tuple[torch.Tensor, ...],
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """``fn`` applied batch by batch under ``no_grad`` on ``device``; results concatenated on CPU."""
    device = torch.device(device)
    n = inputs[0].shape[0]
    outputs = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            batch = tuple(t[start : start + batch_size].to(device) for t in inputs)
            outputs.append(fn(*batch).cpu())
    return torch.cat(outputs) if outputs else torch.empty(0)


def _check_inputs(
    train: tuple[torch.Tensor, ...], val: tuple[torch.Tensor, ...], config: TrainConfig
) -> None:
    for split, tensors in (("train", train), ("val", val)):
        if not tensors or len({t.shape[0] for t in tensors}) != 1 or tensors[0].shape[0] == 0:
            sizes = [tuple(t.shape) for t in tensors]
            raise ValueError(
                f"{config.name}: the {split} tensors must be non-empty with the same number of "
                f"samples along dimension 0; got shapes {sizes}."
            )
    for key in ("epochs", "batch_size", "patience"):
        if getattr(config, key) < 1:
            raise ValueError(
                f"{config.name}: TrainConfig.{key}={getattr(config, key)!r} must be >= 1."
            )


def _mixed_precision(
    device: torch.device, enabled: bool
) -> tuple[Callable[[], contextlib.AbstractContextManager], torch.amp.GradScaler | None]:
    """Autocast context factory and loss scaler: bf16 where CUDA supports it, else fp16 + scaling."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext, None
    if torch.cuda.is_bf16_supported():
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16), None
    return lambda: torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


def _accumulate(sums: dict[str, torch.Tensor], terms: dict[str, torch.Tensor], weight: int) -> None:
    # Kept as device tensors so the loop never waits for the device to report a number.
    for key, value in terms.items():
        value = torch.as_tensor(value).detach().float() * weight
        sums[key] = sums[key] + value if key in sums else value


def _to_floats(sums: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(v) for k, v in sums.items()}


def _check_finite(row: dict[str, float], name: str, epoch: int) -> None:
    bad = {k: v for k, v in row.items() if k.endswith("/loss") and not math.isfinite(v)}
    if bad:
        raise NonFiniteLossError(
            f"{name}: the loss became non-finite in epoch {epoch} ({bad}). Lower the learning "
            "rate, check the inputs for NaN/inf values, or turn mixed_precision off."
        )
