"""Checks of what a user gives the models: a typed sentence or a recording.

Shared by the ``cemap generate`` command (:mod:`cemap.generate`) and the served pyfunc model
(:mod:`cemap.serving`). Errors a user can cause raise ``GenerationError`` with a message that
says what was wrong and what to do; the command prints it without a traceback.
"""

from __future__ import annotations

import logging
import os
import string
from pathlib import Path

import numpy as np

from cemap.data.sentences import DIGIT_WORDS, parse_sentence, template_vocabulary
from cemap.errors import UserInputError
from cemap.joint.generation import ConditionalGenerator
from cemap.models.text_autoencoder import SPECIAL_TOKENS

logger = logging.getLogger(__name__)

EXAMPLE_SENTENCE = "red three and blue seven"
#: A clip whose loudest sample is below this (full scale 1.0) carries no speech.
SILENCE_PEAK = 1e-4


class GenerationError(UserInputError, ValueError):
    """An input or a model the user pointed at cannot be used; the message says what to do."""


def known_words(generator: ConditionalGenerator) -> list[str]:
    """The words the trained text autoencoder knows, sorted."""
    vocabulary = generator.autoencoders["text"].vocabulary.tokens
    return sorted(set(vocabulary) - set(SPECIAL_TOKENS))


def known_colors(generator: ConditionalGenerator) -> list[str]:
    """The colour names in the trained vocabulary (every word no template or digit uses)."""
    return sorted(set(known_words(generator)) - set(template_vocabulary([])))


def check_sentence(text: str, generator: ConditionalGenerator, name: str = "The text") -> str:
    """``text`` lower-cased without punctuation, if every word is in the trained vocabulary;
    ``name`` says which input a message is about (e.g. "The text of row 2")."""
    if not isinstance(text, str):
        raise GenerationError(
            f"{name} is {text!r} (a {type(text).__name__}), not a sentence; give a string "
            f"such as {EXAMPLE_SENTENCE!r}."
        )
    if not text.strip():
        raise GenerationError(
            f"{name} is empty ({text!r}); give a sentence such as {EXAMPLE_SENTENCE!r}."
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
            f"{name} {text!r} has no words; give a sentence such as {EXAMPLE_SENTENCE!r}."
        )
    vocabulary, colors = set(known_words(generator)), known_colors(generator)
    unknown = [w for w in dict.fromkeys(words) if w not in vocabulary]
    if unknown:
        digits = [d for d in DIGIT_WORDS if d in vocabulary]
        where = "" if name == "The text" else f" ({name[:1].lower()}{name[1:]})"
        raise GenerationError(
            f"Unknown word{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in "
            f"{text!r}{where}. The model knows the colours {', '.join(colors)} and the digits "
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

    Samples are floats in [-1, 1]; 16-bit integer PCM (an ``int16`` array) is scaled by
    1/32768, other integer arrays and floats beyond full scale are refused. Stereo is averaged
    to mono and another rate resampled, each with a log line. A rate or channel count that is
    not positive, an empty clip, NaN or infinite samples and a silent clip raise
    ``GenerationError``.
    """
    from cemap.speech.features import resample_to

    check_sample_rate(sample_rate, name)
    if isinstance(channels, bool) or not isinstance(channels, int | np.integer) or channels < 1:
        raise GenerationError(
            f"{_cap(name)} gives channels={channels!r}; give the number of interleaved channels, "
            "1 (mono) or 2 (stereo)."
        )
    clip = _float_samples(waveform, name)
    if clip.ndim == 1 and channels > 1:
        if clip.size % channels:
            raise GenerationError(
                f"{_cap(name)} has {clip.size} samples, not a multiple of channels={channels}; "
                "give whole interleaved frames or the right channel count."
            )
        clip = clip.reshape(-1, channels)
    if clip.ndim == 2:
        if clip.shape[1] > 1:
            logger.info("Mixing the %d channels of %s down to mono.", clip.shape[1], name)
        clip = clip.mean(axis=1)
    if clip.ndim != 1:
        raise GenerationError(
            f"{_cap(name)} has shape {clip.shape}; give a mono or stereo waveform."
        )
    if clip.size == 0:
        raise GenerationError(f"{_cap(name)} has no samples; give a recording of a sentence.")
    bad = int(np.count_nonzero(~np.isfinite(clip)))
    if bad:
        kind = "NaN" if np.isnan(clip).any() else "infinite"
        raise GenerationError(
            f"{_cap(name)} contains {kind} values ({bad} of {clip.size} samples are not finite); "
            "give finite samples in [-1, 1]."
        )
    peak = float(np.abs(clip).max())
    if peak > FULL_SCALE_TOLERANCE:
        raise GenerationError(
            f"{_cap(name)} reaches {peak:.6g}, beyond full scale: samples must be floats in [-1, 1]. "
            "Divide 16-bit integer samples by 32768 (or pass them as an int16 array)."
        )
    if peak < SILENCE_PEAK:
        raise GenerationError(
            f"{_cap(name)} is silent (peak amplitude {peak:.2g}); record the sentence again, louder."
        )
    if sample_rate != target_rate:
        logger.info("Resampling %s from %d Hz to %d Hz.", name, sample_rate, target_rate)
        clip = resample_to(clip, int(sample_rate), target_rate)
    return clip


#: Float samples may overshoot full scale by this much (resampling and codecs ring).
FULL_SCALE_TOLERANCE = 1.01


def check_sample_rate(sample_rate: object, name: str = "the audio") -> int:
    """``sample_rate`` as a positive ``int`` (Hz), or ``GenerationError`` naming it."""
    valid = (
        not isinstance(sample_rate, bool)
        and isinstance(sample_rate, int | np.integer | float | np.floating)
        and np.isfinite(sample_rate)
        and float(sample_rate).is_integer()
        and sample_rate > 0
    )
    if not valid:
        raise GenerationError(
            f"{_cap(name)} gives sample_rate={sample_rate!r}; give the recording's rate in Hz as a "
            "positive whole number, e.g. 16000."
        )
    return int(sample_rate)


def _float_samples(waveform: object, name: str) -> np.ndarray:
    """``waveform`` as float32 samples: int16 PCM scaled to [-1, 1], other integers refused."""
    array = np.asarray(waveform)
    if array.dtype == np.int16:
        logger.info("Scaling the 16-bit integer samples of %s by 1/32768.", name)
        return array.astype(np.float32) / 32768.0
    if array.dtype.kind in "iub":
        raise GenerationError(
            f"{_cap(name)} is an array of {array.dtype} values; give float samples in [-1, 1] or "
            "16-bit PCM as an int16 array."
        )
    try:
        return array.astype(np.float32)
    except (TypeError, ValueError):
        raise GenerationError(
            f"{_cap(name)} is not a list of numbers (dtype {array.dtype}); give float samples in "
            "[-1, 1]."
        ) from None


def _cap(name: str) -> str:
    """``name`` at the start of a sentence: "the audio of row 2" -> "The audio of row 2"; a
    file name stays as it is."""
    return f"The {name[4:]}" if name.startswith("the ") else name


def speech_rate(generator: ConditionalGenerator) -> int:
    """The sample rate the speech autoencoder was trained at (Hz)."""
    if "speech" not in generator.autoencoders:
        raise GenerationError("This model has no speech autoencoder, so it cannot read audio.")
    return int(generator.autoencoders["speech"].config.spec.sample_rate)
