"""Kedro dataset for model checkpoints: a dict of tensors and plain Python values."""

from __future__ import annotations

import io
from typing import Any

import torch

from cemap.datasets import _FsspecFileDataset


class TorchCheckpointDataset(_FsspecFileDataset):
    """A checkpoint dict in one ``torch.save`` file, read back with ``weights_only=True``.

    ``weights_only`` refuses pickled classes and code, so only tensors, numbers, strings, lists,
    tuples and dicts survive the round trip: a checkpoint never depends on the training code.
    """

    def _load(self) -> dict[str, Any]:
        return torch.load(io.BytesIO(self._read_bytes()), map_location="cpu", weights_only=True)

    def _save(self, data: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save(data, buffer)
        self._write_bytes(buffer.getvalue())
