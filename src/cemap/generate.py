"""Generation from a typed sentence or an audio file, for the ``cemap generate`` command,
notebooks and the served pyfunc model: input checks, model loading, writing the outputs.

Errors a user can cause raise ``GenerationError`` with a message that says what was wrong and
what to do; the command prints it without a traceback.
"""

from __future__ import annotations

import logging
import os
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from cemap.data.sentences import DIGIT_WORDS, parse_sentence, template_vocabulary
from cemap.joint.generation import ConditionalGenerator, Generated
from cemap.models.persistence import MODALITIES, autoencoder_path
from cemap.models.text_autoencoder import SPECIAL_TOKENS

logger = logging.getLogger(__name__)

Target = Literal["image", "text", "speech"]
TARGETS: tuple[str, ...] = MODALITIES
EXAMPLE_SENTENCE = "red three and blue seven"
#: A clip whose loudest sample is below this (full scale 1.0) carries no speech.
SILENCE_PEAK = 1e-4
#: Output file suffix per target modality.
SUFFIXES = {"image": ".png", "text": ".txt", "speech": ".wav"}


class GenerationError(ValueError):
    """An input or a model the user pointed at cannot be used; the message says what to do."""


# --- models -----------------------------------------------------------------------------------


def local_model_paths(
    project_path: str | os.PathLike[str] = ".", data_root: str = "data"
) -> dict[str, Path]:
    """Where ``kedro run`` keeps the trained models: ``{"joint": path, "image": path, ...}``."""
    paths = {m: autoencoder_path(m, project_path, data_root) for m in MODALITIES}
    return {"joint": Path(project_path) / data_root / "06_models" / "joint_model.pt", **paths}


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
            f"models:/cemap-text-speech-to-image/latest."
        )
    joint = paths.pop("joint")
    return ConditionalGenerator.from_checkpoints(joint, paths, device=device)


def load_mlflow_generator(model_uri: str) -> ConditionalGenerator:
    """The generator inside a pyfunc model logged by ``cemap.serving`` (``models:/...``,
    ``runs:/...`` or a local model folder), from the current MLflow tracking/registry store."""
    import mlflow

    from cemap.serving import CrossModalImageModel

    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except Exception as exc:  # noqa: BLE001 — MLflow raises many types; the user needs the reason
        raise GenerationError(
            f"Cannot load the MLflow model {model_uri!r} from the tracking store "
            f"{mlflow.get_tracking_uri()}: {exc}. Check the URI (e.g. "
            f"models:/cemap-text-speech-to-image/latest) and MLFLOW_TRACKING_URI."
        ) from None
    python_model = model.unwrap_python_model()
    if not isinstance(python_model, CrossModalImageModel):
        raise GenerationError(
            f"The MLflow model {model_uri!r} is a {type(python_model).__name__}, not a CEMap "
            f"CrossModalImageModel; give the URI of the model the evaluation pipeline registers."
        )
    return python_model.generator


def project_tracking_uri(project_path: str | os.PathLike[str] = ".") -> str:
    """The MLflow store ``kedro run`` logs to: ``$CEMAP_MLFLOW_TRACKING_URI``, else
    ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<project>/mlflow.db``."""
    return (
        os.environ.get("CEMAP_MLFLOW_TRACKING_URI")
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{Path(project_path).resolve()}/mlflow.db"
    )


def load_generator(
    model: str | None = None,
    project_path: str | os.PathLike[str] = ".",
    data_root: str = "data",
    device: str = "cpu",
) -> ConditionalGenerator:
    """``model=None``: the local artefacts of the last ``kedro run``; otherwise an MLflow model
    URI or folder, looked up in the project's MLflow store (see ``project_tracking_uri``)."""
    if model is None:
        return load_local_generator(project_path, data_root, device)
    import mlflow

    mlflow.set_tracking_uri(project_tracking_uri(project_path))
    return load_mlflow_generator(model)


# --- inputs -----------------------------------------------------------------------------------


def known_words(generator: ConditionalGenerator) -> list[str]:
    """The words the trained text autoencoder knows, sorted."""
    vocabulary = generator.autoencoders["text"].vocabulary.tokens
    return sorted(set(vocabulary) - set(SPECIAL_TOKENS))


def known_colors(generator: ConditionalGenerator) -> list[str]:
    """The colour names in the trained vocabulary (every word no template or digit uses)."""
    return sorted(set(known_words(generator)) - set(template_vocabulary([])))


def check_sentence(text: str, generator: ConditionalGenerator) -> str:
    """``text`` lower-cased without punctuation, if every word is in the trained vocabulary."""
    if not isinstance(text, str) or not text.strip():
        raise GenerationError(
            f"The text is empty ({text!r}); give a sentence such as {EXAMPLE_SENTENCE!r}."
        )
    if "text" not in generator.autoencoders:
        raise GenerationError("This model has no text autoencoder, so it cannot read sentences.")
    words = (
        text.lower()
        .translate(str.maketrans(string.punctuation, " " * len(string.punctuation)))
        .split()
    )
    if not words:
        raise GenerationError(
            f"The text {text!r} has no words; give a sentence such as {EXAMPLE_SENTENCE!r}."
        )
    vocabulary, colors = set(known_words(generator)), known_colors(generator)
    unknown = [w for w in dict.fromkeys(words) if w not in vocabulary]
    if unknown:
        digits = [d for d in DIGIT_WORDS if d in vocabulary]
        raise GenerationError(
            f"Unknown word{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in "
            f"{text!r}. The model knows the colours {', '.join(colors)} and the digits "
            f"{', '.join(digits)} (as words); e.g. {EXAMPLE_SENTENCE!r}."
        )
    sentence = " ".join(words)
    if parse_sentence(sentence, colors) is None:
        logger.warning(
            "%r fits none of the training sentence patterns (e.g. %r); the model may misread it.",
            sentence,
            EXAMPLE_SENTENCE,
        )
    return sentence


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """``(samples, channels) float32`` and the sample rate of an audio file (soundfile)."""
    import soundfile as sf

    if not Path(path).is_file():
        raise GenerationError(f"There is no audio file at {str(path)!r}.")
    try:
        waveform, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 — soundfile raises LibsndfileError, OSError, ...
        reason = str(exc).rstrip(".")
        raise GenerationError(
            f"Cannot read the audio file {str(path)!r} ({reason}); give a WAV, FLAC or OGG file."
        ) from None
    return waveform, int(sample_rate)


def prepare_waveform(
    waveform: np.ndarray,
    sample_rate: int,
    target_rate: int,
    channels: int = 1,
    name: str = "the audio",
) -> np.ndarray:
    """A mono float32 clip at ``target_rate`` from ``waveform``: ``(samples,)``, ``(samples,
    channels)`` or, with ``channels > 1``, interleaved ``(samples * channels,)``.

    Stereo is averaged to mono and another rate resampled, each with a log line; an empty or
    silent clip raises ``GenerationError``.
    """
    from cemap.speech.features import resample_to

    clip = np.asarray(waveform, dtype=np.float32)
    if clip.ndim == 1 and channels > 1:
        if clip.size % channels:
            raise GenerationError(
                f"{name} has {clip.size} samples, not a multiple of channels={channels}."
            )
        clip = clip.reshape(-1, channels)
    if clip.ndim == 2:
        if clip.shape[1] > 1:
            logger.info("Mixing the %d channels of %s down to mono.", clip.shape[1], name)
        clip = clip.mean(axis=1)
    if clip.ndim != 1:
        raise GenerationError(f"{name} has shape {clip.shape}; give a mono or stereo waveform.")
    if clip.size == 0:
        raise GenerationError(f"{name} has no samples; give a recording of a sentence.")
    peak = float(np.abs(clip).max())
    if not np.isfinite(peak) or peak < SILENCE_PEAK:
        raise GenerationError(
            f"{name} is silent (peak amplitude {peak:.2g}); record the sentence again, louder."
        )
    if sample_rate != target_rate:
        logger.info("Resampling %s from %d Hz to %d Hz.", name, sample_rate, target_rate)
        clip = resample_to(clip, sample_rate, target_rate)
    return clip


def speech_rate(generator: ConditionalGenerator) -> int:
    """The sample rate the speech autoencoder was trained at (Hz)."""
    if "speech" not in generator.autoencoders:
        raise GenerationError("This model has no speech autoencoder, so it cannot read audio.")
    return int(generator.autoencoders["speech"].config.sample_rate)


# --- generation -------------------------------------------------------------------------------


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise GenerationError(f"Cannot generate {target!r}; choose one of {', '.join(TARGETS)}.")


def generate_from_text(
    generator: ConditionalGenerator,
    sentences: str | Sequence[str],
    target: Target = "image",
    n_samples: int = 1,
) -> Generated:
    """``target`` outputs for checked sentences (see ``ConditionalGenerator.generate`` for the
    shapes; speech is Griffin-Lim audio). One sample is the posterior mean, several are draws."""
    _check_target(target)
    batch = [sentences] if isinstance(sentences, str) else list(sentences)
    checked = [check_sentence(s, generator) for s in batch]
    return generator.generate(
        "text", checked, target, n_samples, use_mean=n_samples == 1, speech_output="waveform"
    )


def generate_from_audio(
    generator: ConditionalGenerator,
    clips: Sequence[tuple[np.ndarray, int]],
    target: Target = "image",
    n_samples: int = 1,
    names: Sequence[str] | None = None,
) -> Generated:
    """``target`` outputs for ``(waveform, sample_rate)`` clips (mono or stereo, any rate);
    ``names`` (e.g. file names) say which clip a message is about."""
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
        use_mean=n_samples == 1,
        embeddings=False,
        sample_rate=rate,
        speech_output="waveform",
    )


# --- outputs ----------------------------------------------------------------------------------


def samples_of(generated: Generated, index: int, n_samples: int) -> list:
    """The ``n_samples`` outputs generated for input ``index`` (``generate_from_*`` give
    ``(N, ...)`` for one sample per input and ``(N, n_samples, ...)`` for several)."""
    return list(generated[index]) if n_samples > 1 else [generated[index]]


def write_outputs(
    samples: Sequence,
    target: Target,
    out: str | os.PathLike[str],
    sample_rate: int | None = None,
) -> list[Path]:
    """Write the ``samples`` of one input (``samples_of``): PNGs of ``(28, 56, 3) uint8``
    images, one ``.txt`` of sentences, or WAVs of waveforms at ``sample_rate``. ``out`` is a folder (``<target>_<k>`` files) or a file whose name is used
    as it is for one output and numbered (``name_<k>``) for several. Returns the paths."""
    from PIL import Image

    out = Path(out)
    suffix = SUFFIXES[target]
    is_file = bool(out.suffix)
    if is_file and out.suffix.lower() != suffix:
        raise GenerationError(
            f"--out {str(out)!r} ends in {out.suffix!r}, but {target} outputs are {suffix} "
            f"files; give a {suffix} file or a folder."
        )
    folder = out.parent if is_file else out
    folder.mkdir(parents=True, exist_ok=True)
    if target == "text":
        path = out if is_file else folder / "sentences.txt"
        path.write_text("".join(f"{s}\n" for s in samples))
        return [path]
    items = list(samples)
    stem = out.stem if is_file else target
    paths = [
        out if is_file and len(items) == 1 else folder / f"{stem}_{k}{suffix}"
        for k in range(len(items))
    ]
    for item, path in zip(items, paths, strict=True):
        if target == "image":
            Image.fromarray(np.asarray(item, dtype=np.uint8)).save(path)
        else:
            import soundfile as sf

            sf.write(str(path), np.asarray(item, dtype=np.float32), sample_rate, subtype="PCM_16")
    return paths
