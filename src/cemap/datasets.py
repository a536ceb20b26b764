"""Kedro datasets CEMap needs that kedro-datasets does not ship."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
import soundfile as sf
from kedro.io import AbstractDataset
from kedro.io.core import DatasetError, get_filepath_str, get_protocol_and_path

from cemap.errors import UserInputError


class PathIsFolderError(DatasetError, UserInputError):
    """A dataset's file path is taken by a folder, so the file cannot be written there."""


class _FsspecFileDataset(AbstractDataset):
    """Shared plumbing: one file on any fsspec filesystem, written atomically.

    The bytes go to ``<path>.tmp`` first and are then renamed, so an interrupted run
    never leaves a half-written file under the final name.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol)
        self._filepath = PurePosixPath(path)
        self.metadata = metadata

    def _path(self) -> str:
        return get_filepath_str(self._filepath, self._protocol)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "protocol": self._protocol}

    def _exists(self) -> bool:
        return self._fs.exists(self._path())

    def _read_bytes(self) -> bytes:
        with self._fs.open(self._path(), "rb") as f:
            return f.read()

    def _write_bytes(self, payload: bytes) -> None:
        self._write_with(lambda f: f.write(payload))

    def _write_with(self, write: Callable[[Any], object]) -> None:
        """``write(file)`` into ``<path>.tmp``, then rename it to the final name.

        A folder at the path (renaming would move the file into it) is refused before anything
        is written.
        """
        path = self._path()
        for target in (path, f"{path}.tmp"):
            if self._fs.isdir(target):
                raise PathIsFolderError(
                    f"Cannot save {type(self).__name__} to {target}: a folder is there, where "
                    f"the file should be. Move or delete the folder {target} (nothing was "
                    "written), or point the catalog entry's filepath elsewhere."
                )
        self._fs.makedirs(str(PurePosixPath(path).parent), exist_ok=True)
        tmp = f"{path}.tmp"
        with self._fs.open(tmp, "wb") as f:
            write(f)
        self._fs.mv(tmp, path)


class NpyDataset(_FsspecFileDataset):
    """One NumPy array in a ``.npy`` file. Equal arrays give byte-identical files.

    Arrays stream straight to and from the file: no second in-memory copy of large features.
    """

    def _load(self) -> np.ndarray:
        with self._fs.open(self._path(), "rb") as f:
            return np.load(f, allow_pickle=False)

    def _save(self, data: np.ndarray) -> None:
        self._write_with(lambda f: np.save(f, np.ascontiguousarray(data), allow_pickle=False))


class WavDataset(_FsspecFileDataset):
    """A mono clip as 16-bit PCM WAV; loads and saves ``(waveform float32 [-1, 1], sample_rate)``."""

    def _load(self) -> tuple[np.ndarray, int]:
        waveform, sample_rate = sf.read(io.BytesIO(self._read_bytes()), dtype="float32")
        return waveform, int(sample_rate)

    def _save(self, data: tuple[np.ndarray, int]) -> None:
        waveform, sample_rate = data
        buffer = io.BytesIO()
        sf.write(
            buffer,
            np.asarray(waveform, dtype=np.float32),
            int(sample_rate),
            format="WAV",
            subtype="PCM_16",
        )
        self._write_bytes(buffer.getvalue())


class PngFigureDataset(_FsspecFileDataset):
    """A matplotlib figure saved as PNG; loads the PNG bytes back.

    Unlike ``matplotlib.MatplotlibDataset`` it can be read, so the report node takes the
    figures as inputs (and embeds them) instead of pointing at files it cannot see.
    ``save_args`` go to ``Figure.savefig`` (``dpi``, ``bbox_inches``).
    """

    def __init__(
        self,
        filepath: str,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath, metadata)
        self._save_args = dict(save_args or {})

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "save_args": self._save_args}

    def _load(self) -> bytes:
        return self._read_bytes()

    def _save(self, data: Any) -> None:
        buffer = io.BytesIO()
        data.savefig(buffer, format="png", **self._save_args)
        self._write_bytes(buffer.getvalue())


class RunInfoDataset(AbstractDataset):
    """Which run this is: run id, pipelines, environment, date, configuration, command.

    Nothing is stored: ``cemap.hooks.MlflowRunHook`` saves the run's facts into it before any
    node runs, the report node loads them as its header. Without the hook (a bare runner) it
    loads the MLflow run that is active, if any, and the time of loading.
    """

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata
        self._info: dict[str, str] | None = None

    def _describe(self) -> dict[str, Any]:
        return {"filled": self._info is not None}

    def _exists(self) -> bool:
        return True

    def _load(self) -> dict[str, str]:
        if self._info is not None:
            return dict(self._info)
        import mlflow  # only here: the other datasets of this module need no tracking

        run = mlflow.active_run()
        now = datetime.now(timezone.utc)
        return {
            "run id": run.info.run_id if run else "(not tracked)",
            "date": f"{now:%Y-%m-%d %H:%M} UTC",
        }

    def _save(self, data: dict[str, str]) -> None:
        self._info = {str(k): str(v) for k, v in data.items()}
