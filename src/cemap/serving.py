"""The served model: an MLflow pyfunc "sentence or waveform -> image".

Input, a ``pandas.DataFrame`` with one row per request and the optional columns

- ``text``: a sentence (``str``), e.g. ``"red three and blue seven"``;
- ``audio``: a waveform, a list of floats in [-1, 1] (interleaved frames when ``channels > 1``);
- ``sample_rate``: the rate of ``audio`` in Hz (default: the rate the speech model was trained at;
  other rates are resampled);
- ``channels``: channels of ``audio`` (default 1; stereo is averaged to mono).

Each row gives ``text`` or ``audio``. Integer columns cannot hold missing values (MLflow then
refuses the float column), so a frame mixing text and audio rows gives every row a
``sample_rate``/``channels`` (text rows ignore them). Output: the images, a ``numpy`` array ``(N, 28, 56, 3)
uint8`` in row order (the signature declares it as a tensor; a REST server returns nested
lists). ``mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"text": [...]}))``.

Logging: the evaluation pipeline wraps the four trained checkpoints in a
``CrossModalImageModel``; ``CrossModalModelDataset`` (the catalog) logs the model with them as artifacts, its signature
and input example, registers it as ``cemap-text-speech-to-image`` and points the alias
``champion`` at the new version, so ``models:/cemap-text-speech-to-image@champion`` is the model
of the last full run. The smoke env registers ``cemap-text-speech-to-image-smoke`` instead
(``conf/smoke/catalog_evaluation.yml``): a quick check never replaces the real model.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from kedro_mlflow.io.models import MlflowModelTrackingDataset
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec
from mlflow.types.schema import AnyType, Array

from cemap.concepts import MODALITIES
from cemap.inputs import (
    EXAMPLE_SENTENCE,
    GenerationError,
    check_sentence,
    prepare_waveform,
    speech_rate,
)
from cemap.joint.generation import ConditionalGenerator

REGISTERED_MODEL_NAME = "cemap-text-speech-to-image"
#: The alias the default pipeline points at the version it registers.
CHAMPION_ALIAS = "champion"
#: What to serve: the last full run's model.
CHAMPION_URI = f"models:/{REGISTERED_MODEL_NAME}@{CHAMPION_ALIAS}"
#: Artifact key of each checkpoint inside the logged model.
ARTIFACTS = {"joint": "joint_model", **{m: f"{m}_autoencoder" for m in MODALITIES}}
IMAGE_SHAPE = (28, 56, 3)

SIGNATURE = ModelSignature(
    inputs=Schema(
        [
            # Any: a NaN or number in `text` reaches the model's own check, which names the row,
            # rather than failing MLflow's type conversion.
            ColSpec(AnyType(), "text", required=False),
            ColSpec(Array("double"), "audio", required=False),
            ColSpec("long", "sample_rate", required=False),
            ColSpec("long", "channels", required=False),
        ]
    ),
    outputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, *IMAGE_SHAPE))]),
)
INPUT_EXAMPLE = pd.DataFrame({"text": [EXAMPLE_SENTENCE]})
#: What loading the model imports, pinned to this environment's versions. MLflow's own
#: inference is slow (it loads the model in a subprocess) and misses torch. The cemap package
#: is not on PyPI: serve from an environment with the project installed
#: (``mlflow models serve --env-manager local`` or the project's image).
SERVING_DISTRIBUTIONS = ("torch", "torchaudio", "numpy", "pandas", "tqdm", "kedro", "kedro-mlflow")


def serving_requirements() -> list[str]:
    """``pip_requirements`` for ``mlflow.pyfunc.log_model``: ``SERVING_DISTRIBUTIONS`` pinned
    (local version labels such as ``+cpu`` dropped, so any build of the release installs)."""
    return [f"{d}=={version(d).split('+')[0]}" for d in SERVING_DISTRIBUTIONS]


class CrossModalImageModel(mlflow.pyfunc.PythonModel):
    """Images from sentences or speech through the joint latent space (see module docstring).

    ``checkpoints`` (``{"joint", "image", "text", "speech"}`` -> checkpoint dict) travel only
    to ``CrossModalModelDataset``, which logs them as artifacts; they are never pickled.
    """

    def __init__(self, checkpoints: Mapping[str, dict[str, Any]] | None = None) -> None:
        self.checkpoints = dict(checkpoints or {})
        self.generator: ConditionalGenerator | None = None

    def __getstate__(self) -> dict[str, Any]:
        # MLflow cloudpickles the instance; the weights are artifacts, not part of the pickle.
        return {**self.__dict__, "checkpoints": {}, "generator": None}

    def write_checkpoints(self, folder: str | os.PathLike[str]) -> dict[str, str]:
        """Save the checkpoints as ``.pt`` files in ``folder``; the ``artifacts`` dict for
        ``mlflow.pyfunc.log_model``."""
        missing = sorted(set(ARTIFACTS) - set(self.checkpoints))
        if missing:
            raise ValueError(f"CrossModalImageModel has no checkpoint for {missing}.")
        paths = {}
        for part, key in ARTIFACTS.items():
            paths[key] = str(Path(folder) / f"{key}.pt")
            torch.save(self.checkpoints[part], paths[key])
        return paths

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        artifacts = context.artifacts
        self.generator = ConditionalGenerator.from_checkpoints(
            artifacts[ARTIFACTS["joint"]],
            {m: artifacts[ARTIFACTS[m]] for m in MODALITIES},
            device="auto",
        )

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """``(N, 28, 56, 3) uint8`` images, one per row of ``model_input``."""
        return images_for_requests(self.generator, model_input)


def _present(value: Any) -> bool:
    """A cell holds a value (not None/NaN; a list or array always counts)."""
    if isinstance(value, list | tuple | np.ndarray):
        return True
    return value is not None and not pd.isna(value)


#: What a request frame may hold, for messages.
REQUEST_COLUMNS = (
    "`text` (a sentence) or `audio` (a waveform, with optional `sample_rate` and `channels`)"
)


def images_for_requests(generator: ConditionalGenerator, requests: pd.DataFrame) -> np.ndarray:
    """One image per row of ``requests`` (columns as in the module docstring), in row order.

    Every row must give exactly one of ``text`` and ``audio``; a frame without either column
    (MLflow drops columns the signature does not declare, such as a misspelt ``sentence``)
    or without rows raises ``GenerationError`` rather than returning no images.
    """
    if not isinstance(requests, pd.DataFrame):
        raise GenerationError(
            f"The request is a {type(requests).__name__}; give a pandas DataFrame with a "
            f"column {REQUEST_COLUMNS}, one row per request."
        )
    rows = requests.reset_index(drop=True)
    if not {"text", "audio"} & set(rows.columns):
        given = ", ".join(f"`{c}`" for c in rows.columns) or "none"
        raise GenerationError(
            f"The request has no `text` or `audio` column (its columns: {given}; "
            f"MLflow drops every column the model does not declare, e.g. `sentence`). "
            f"Give each row {REQUEST_COLUMNS}, e.g. pd.DataFrame({{'text': "
            f"[{EXAMPLE_SENTENCE!r}]}})."
        )
    if rows.empty:
        raise GenerationError(
            f"The request has no rows; give one row per image, each with {REQUEST_COLUMNS}."
        )
    text = rows["text"] if "text" in rows else pd.Series([None] * len(rows))
    audio = rows["audio"] if "audio" in rows else pd.Series([None] * len(rows))
    text_rows, audio_rows, neither, both = [], [], [], []
    for i in range(len(rows)):
        has_text, has_audio = _present(text[i]), _present(audio[i])
        if has_text and has_audio:
            both.append(i)
        elif not (has_text or has_audio):
            neither.append(i)
        (text_rows if has_text else audio_rows).append(i)
    for problem, found in (("neither", neither), ("both", both)):
        if found:
            listed = ", ".join(map(str, found[:10])) + (" ..." if len(found) > 10 else "")
            raise GenerationError(
                f"Row{'s' if len(found) > 1 else ''} {listed} give{'' if len(found) > 1 else 's'} "
                f"{problem} of `text` and `audio` (a missing or NaN cell counts as none); give "
                f"exactly one per row: {REQUEST_COLUMNS}."
            )

    images = np.zeros((len(rows), *IMAGE_SHAPE), dtype=np.uint8)
    if text_rows:
        sentences = [check_sentence(text[i], generator, f"The text of row {i}") for i in text_rows]
        images[text_rows] = generator.generate("text", sentences, "image")
    if audio_rows:
        rate = speech_rate(generator)
        clips = [
            prepare_waveform(
                audio[i],
                _int_cell(rows, "sample_rate", i, rate),
                rate,
                channels=_int_cell(rows, "channels", i, 1),
                name=f"the audio of row {i}",
            )
            for i in audio_rows
        ]
        images[audio_rows] = generator.generate(
            "speech", clips, "image", embeddings=False, sample_rate=rate
        )
    return images


def _int_cell(rows: pd.DataFrame, column: str, i: int, default: int) -> Any:
    """The cell, or ``default`` when missing; ``prepare_waveform`` checks what it holds."""
    if column not in rows or not _present(rows[column][i]):
        return default
    value = rows[column][i]
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def load_served_generator(model_uri: str) -> ConditionalGenerator:
    """The generator inside a logged ``CrossModalImageModel`` (``models:/...``, ``runs:/...``
    or a local model folder), from the current MLflow tracking/registry store."""
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except Exception as exc:  # noqa: BLE001 — MLflow raises many types; the user needs the reason
        raise GenerationError(
            f"Cannot load the MLflow model {model_uri!r} from the tracking store "
            f"{mlflow.get_tracking_uri()}: {exc}. Check the URI (e.g. {CHAMPION_URI}) and "
            "CEMAP_MLFLOW_TRACKING_URI."
        ) from None
    python_model = model.unwrap_python_model()
    if not isinstance(python_model, CrossModalImageModel):
        raise GenerationError(
            f"The MLflow model {model_uri!r} is a {type(python_model).__name__}, not a CEMap "
            f"CrossModalImageModel; give the URI of the model the evaluation pipeline registers."
        )
    return python_model.generator


class CrossModalModelDataset(MlflowModelTrackingDataset):
    """kedro-mlflow's ``MlflowModelTrackingDataset`` for a ``CrossModalImageModel``: the
    ``mlflow.pyfunc`` ``python_model`` workflow, with the checkpoints as artifacts and this
    module's signature and input example (Python objects, which YAML cannot hold).

    ``save_args`` go to ``mlflow.pyfunc.log_model``; ``name`` defaults to
    ``cross_modal_image_model`` and ``registered_model_name`` to ``cemap-text-speech-to-image``.
    ``alias`` (e.g. ``champion``) is pointed at each version this dataset registers.
    Loading gives the last logged pyfunc model (or ``load_args: {model_uri: ...}``).
    """

    def __init__(
        self,
        save_args: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        alias: str | None = None,
    ) -> None:
        self._alias = alias
        defaults = {
            "name": "cross_modal_image_model",
            "registered_model_name": REGISTERED_MODEL_NAME,
            "signature": SIGNATURE,
            "input_example": INPUT_EXAMPLE,
            "pip_requirements": serving_requirements(),
        }
        super().__init__(
            flavor="mlflow.pyfunc",
            pyfunc_workflow="python_model",
            load_args=load_args,
            save_args={**defaults, **(save_args or {})},
            metadata=metadata,
        )

    def _save(self, model: CrossModalImageModel) -> None:
        if not self._logging_activated:  # kedro-mlflow turned tracking off for this run
            return
        with tempfile.TemporaryDirectory() as folder:
            self._save_args["artifacts"] = model.write_checkpoints(folder)
            try:
                super()._save(model)
                self._set_alias()
            finally:
                # The checkpoints are logged; do not keep them (and the model) alive here.
                del self._save_args["artifacts"]
                self._save_args.pop("python_model", None)

    def _set_alias(self) -> None:
        """Point ``alias`` at the version just registered (none: nothing to do)."""
        name = self._save_args.get("registered_model_name")
        version = getattr(self.model_info, "registered_model_version", None)
        if not (self._alias and name and version):
            return
        mlflow.MlflowClient().set_registered_model_alias(name, self._alias, str(version))
