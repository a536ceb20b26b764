"""Generation from a typed sentence or an audio file, for the ``cemap generate`` command and
notebooks: model loading, generation, writing the outputs.

Inputs are checked by :mod:`cemap.inputs`; errors a user can cause raise ``GenerationError``
with a message that says what was wrong and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from cemap.concepts import MODALITIES
from cemap.inputs import (
    EXAMPLE_SENTENCE,
    GenerationError,
    check_sentence,
    known_colors,
    known_words,
    prepare_waveform,
    read_audio,
    speech_rate,
)
from cemap.joint.generation import ConditionalGenerator, Generated
from cemap.models.persistence import autoencoder_path

__all__ = [
    "EXAMPLE_SENTENCE",
    "GenerationError",
    "check_sentence",
    "generate_from_audio",
    "generate_from_text",
    "known_colors",
    "known_words",
    "load_generator",
    "load_local_generator",
    "local_model_paths",
    "plan_outputs",
    "prepare_waveform",
    "read_audio",
    "samples_of",
    "speech_rate",
    "write_outputs",
]

Target = Literal["image", "text", "speech"]
TARGETS: tuple[str, ...] = MODALITIES
#: Output file suffix per target modality.
SUFFIXES = {"image": ".png", "text": ".txt", "speech": ".wav"}
#: The most outputs one call of ``cemap generate`` writes (-n); a bound on disk and time.
MAX_OUTPUTS = 1000
#: Outputs generated and written together: memory stays bounded whatever -n is.
OUTPUT_BATCH = 64


# --- models -----------------------------------------------------------------------------------


def local_model_paths(
    project_path: str | os.PathLike[str] = ".", data_root: str = "data"
) -> dict[str, Path]:
    """Where ``kedro run`` keeps the trained models: ``{"joint": path, "image": path, ...}``;
    speech is the autoencoder whose decoder was adapted to the joint model (joint_latent)."""
    paths = {m: autoencoder_path(m, project_path, data_root) for m in MODALITIES}
    models = Path(project_path) / data_root / "06_models"
    paths["speech"] = models / "speech_generation_autoencoder.pt"
    return {"joint": models / "joint_model.pt", **paths}


def load_local_generator(
    project_path: str | os.PathLike[str] = ".", data_root: str = "data", device: str = "cpu"
) -> ConditionalGenerator:
    """The joint model and the three autoencoders of the project's last ``kedro run``."""
    paths = local_model_paths(project_path, data_root)
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise GenerationError(
            f"No trained model at {', '.join(missing)}. Run `kedro run` in the project "
            f"({Path(project_path).resolve()}; `kedro run --env <env>` for another env's "
            f"data_root) first, or pass --model with an MLflow model URI such as "
            f"models:/cemap-text-speech-to-image@champion."
        )
    joint = paths.pop("joint")
    return ConditionalGenerator.from_checkpoints(joint, paths, device=device)


def load_generator(
    model: str | None = None,
    project_path: str | os.PathLike[str] = ".",
    data_root: str = "data",
    device: str = "cpu",
) -> ConditionalGenerator:
    """``model=None``: the local artefacts of the last ``kedro run``; otherwise an MLflow model
    URI or folder, looked up in the project's MLflow store (``cemap.tracking``)."""
    if model is None:
        return load_local_generator(project_path, data_root, device)
    import mlflow

    from cemap.serving import load_served_generator
    from cemap.tracking import project_tracking_uri

    mlflow.set_tracking_uri(project_tracking_uri(project_path))
    return load_served_generator(model)


# --- generation -------------------------------------------------------------------------------


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise GenerationError(f"Cannot generate {target!r}; choose one of {', '.join(TARGETS)}.")


def generate_from_text(
    generator: ConditionalGenerator,
    sentences: str | Sequence[str],
    target: Target = "image",
    n_samples: int = 1,
    use_mean: bool | None = None,
) -> Generated:
    """``target`` outputs for checked sentences (see ``ConditionalGenerator.generate`` for the
    shapes; speech is Griffin-Lim audio). One sample is the posterior mean, several are draws
    (``use_mean=False`` draws even one)."""
    _check_target(target)
    batch = [sentences] if isinstance(sentences, str) else list(sentences)
    checked = [check_sentence(s, generator) for s in batch]
    return generator.generate(
        "text",
        checked,
        target,
        n_samples,
        use_mean=n_samples == 1 if use_mean is None else use_mean,
        speech_output="waveform",
    )


def generate_from_audio(
    generator: ConditionalGenerator,
    clips: Sequence[tuple[np.ndarray, int]],
    target: Target = "image",
    n_samples: int = 1,
    names: Sequence[str] | None = None,
    use_mean: bool | None = None,
) -> Generated:
    """``target`` outputs for ``(waveform, sample_rate)`` clips (mono or stereo, any rate);
    ``names`` (e.g. file names) say which clip a message is about; ``use_mean`` as
    ``generate_from_text``."""
    _check_target(target)
    rate = speech_rate(generator)
    names = names or [f"clip {i}" for i in range(len(clips))]
    waveforms = [
        prepare_waveform(w, r, rate, name=name) for (w, r), name in zip(clips, names, strict=True)
    ]
    return generator.generate(
        "speech",
        waveforms,
        target,
        n_samples,
        use_mean=n_samples == 1 if use_mean is None else use_mean,
        embeddings=False,
        sample_rate=rate,
        speech_output="waveform",
    )


# --- outputs ----------------------------------------------------------------------------------


def samples_of(generated: Generated, index: int, n_samples: int) -> list:
    """The ``n_samples`` outputs generated for input ``index`` (``generate_from_*`` give
    ``(N, ...)`` for one sample per input and ``(N, n_samples, ...)`` for several)."""
    return list(generated[index]) if n_samples > 1 else [generated[index]]


def plan_outputs(
    target: Target, out: str | os.PathLike[str], n_outputs: int, overwrite: bool = False
) -> list[Path]:
    """The files ``n_outputs`` outputs of ``target`` will be written to, checked before any
    work: ``out`` is a folder (``<target>_<k>`` files, ``sentences.txt`` for text) or a file
    whose name is used as it is for one output (and for text) and numbered (``name_<k>``) for
    several.

    ``GenerationError`` when ``out`` is a file of another kind, a file where a folder is
    meant (or the reverse), inside a folder that cannot be written, or when a planned file
    exists and ``overwrite`` is false.
    """
    out = Path(out)
    suffix = SUFFIXES[target]
    is_file = bool(out.suffix)
    if is_file and out.suffix.lower() != suffix:
        raise GenerationError(
            f"--out {str(out)!r} ends in {out.suffix!r}, but {target} outputs are {suffix} "
            f"files; give a {suffix} file or a folder."
        )
    if is_file and out.is_dir():
        raise GenerationError(
            f"--out {str(out)!r} is a folder; give a {suffix} file name that is not taken, "
            "or the folder's name without the suffix."
        )
    folder = out.parent if is_file else out
    if folder.exists() and not folder.is_dir():
        raise GenerationError(
            f"--out {str(folder)!r} is an existing file, not a folder; give a folder (it is "
            f"created if missing) or a {suffix} file name."
        )
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and (not existing.is_dir() or not os.access(existing, os.W_OK)):
        what = "a file" if not existing.is_dir() else "a folder you cannot write to"
        raise GenerationError(
            f"Cannot write to --out {str(out)!r}: {str(existing)!r} is {what}. Give --out a "
            "folder you can write to."
        )
    if target == "text":
        paths = [out if is_file else folder / "sentences.txt"]
    else:
        stem = out.stem if is_file else target
        paths = [
            out if is_file and n_outputs == 1 else folder / f"{stem}_{k}{suffix}"
            for k in range(n_outputs)
        ]
    taken = [p for p in paths if p.exists()]
    if taken and not overwrite:
        shown = ", ".join(str(p) for p in taken[:3]) + (" ..." if len(taken) > 3 else "")
        raise GenerationError(
            f"--out would overwrite {len(taken)} existing file{'s' if len(taken) > 1 else ''} "
            f"({shown}); pass --overwrite to replace {'them' if len(taken) > 1 else 'it'}, or "
            "give another --out."
        )
    return paths


def write_outputs(
    samples: Sequence,
    target: Target,
    out: str | os.PathLike[str] | Sequence[Path],
    sample_rate: int | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write the ``samples`` of one input (``samples_of``): PNGs of ``(28, 56, 3) uint8``
    images, one ``.txt`` of sentences, or WAVs of waveforms at ``sample_rate``. ``out`` is a
    folder or file as ``plan_outputs`` says (checked the same way), or the planned paths
    themselves, one per sample (one for text). Returns the paths."""
    from PIL import Image

    items = list(samples)
    if isinstance(out, str | os.PathLike):
        paths = plan_outputs(target, out, len(items), overwrite)
    else:
        paths = list(out)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    if target == "text":
        paths[0].write_text("".join(f"{s}\n" for s in items))
        return paths[:1]
    for item, path in zip(items, paths, strict=True):
        if target == "image":
            Image.fromarray(np.asarray(item, dtype=np.uint8)).save(path)
        else:
            import soundfile as sf

            sf.write(str(path), np.asarray(item, dtype=np.float32), sample_rate, subtype="PCM_16")
    return paths


def describe_written(paths: Sequence[Path]) -> str:
    """One line for the files written: all names for a few, the first and last for many."""
    if len(paths) <= 3:
        return f"Wrote {', '.join(str(p) for p in paths)}."
    folders = {p.parent for p in paths}
    where = str(paths[0].parent) if len(folders) == 1 else "several folders"
    return f"Wrote {len(paths)} files to {where} ({paths[0].name} … {paths[-1].name})."
