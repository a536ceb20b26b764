"""The one place that picks the torch device and seeds every random generator."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit name must be available."""
    if name not in DEVICE_CHOICES:
        raise ValueError(f"device={name!r} is not one of {DEVICE_CHOICES}; use 'auto' or 'cpu'.")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device='cuda' was asked for but no CUDA GPU is visible; use 'auto' or 'cpu'."
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            "device='mps' was asked for but MPS is not available; use 'auto' or 'cpu'."
        )
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so CPU runs repeat bit for bit."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - third-party code may still draw from the global state
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
