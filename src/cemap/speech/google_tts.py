"""Google Translate's text-to-speech through ``gTTS`` (needs network access).

Accents are chosen by the Google domain (``tld``): ``"com"`` American, ``"co.uk"``
British, ``"com.au"`` Australian, ``"ca"`` Canadian, ``"co.in"`` Indian English. Rate and
pitch cannot be set. The MP3 that comes back is decoded with ``soundfile`` (libsndfile
reads MP3) and brought to :data:`GTTS_SAMPLE_RATE`.
"""

from __future__ import annotations

import inspect
import io
import re
import socket
import threading
from collections.abc import Callable

import numpy as np
import soundfile as sf

from cemap.speech.backend import SpeechBackend
from cemap.speech.utterances import Utterance

#: Google's speech comes as 24 kHz mono MP3; clips are kept at that rate.
GTTS_SAMPLE_RATE = 24000

#: One accent per Google domain, for speaker variety.
DEFAULT_GTTS_VOICES = ("com", "co.uk", "com.au", "ca", "co.in")

GTTS_HOST = "translate.google.com"
#: Seconds allowed for the pre-flight connection (DNS lookup included).
GTTS_CONNECT_TIMEOUT_S = 3.0
#: Seconds allowed for one clip's request.
GTTS_REQUEST_TIMEOUT_S = 10.0

_OFFLINE_HINT = (
    "set data_generation.speech.backend: espeak for the offline default "
    "(eSpeak NG ships with the project and needs no network)"
)
_TLD = re.compile(r"^[a-z]{2,3}(\.[a-z]{2,3})?$")


def _call_with_deadline(function: Callable[[], object], timeout: float) -> None:
    """Run ``function`` in a daemon thread; raise TimeoutError if it has not returned after
    ``timeout`` seconds (the thread is left behind), re-raise what it raised."""
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            function()
            outcome.append(None)
        except BaseException as error:  # handed to the caller below
            outcome.append(error)

    thread = threading.Thread(target=attempt, name="gtts-deadline", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise TimeoutError(f"no answer within {timeout:g} s")
    if outcome[0] is not None:
        raise outcome[0]


def check_gtts_reachable() -> None:
    """Raise ConnectionError within about :data:`GTTS_CONNECT_TIMEOUT_S` seconds unless
    ``translate.google.com:443`` accepts a connection."""
    timeout = GTTS_CONNECT_TIMEOUT_S
    try:
        # create_connection's timeout does not cover the DNS lookup, hence the deadline.
        _call_with_deadline(
            lambda: socket.create_connection((GTTS_HOST, 443), timeout=timeout).close(),
            timeout + 0.5,
        )
    except OSError as error:  # TimeoutError and socket.gaierror included
        raise ConnectionError(
            f"The gtts speech backend needs network access to {GTTS_HOST}:443 "
            f"({type(error).__name__}: {error}); {_OFFLINE_HINT}."
        ) from error


def validate_gtts_voice(voice: str) -> None:
    """ValueError unless ``voice`` looks like a Google domain suffix (``"co.uk"``)."""
    if not _TLD.match(voice):
        raise ValueError(
            f"gtts voices are Google domain suffixes that select an accent, got {voice!r}; "
            f"use e.g. {', '.join(repr(v) for v in DEFAULT_GTTS_VOICES)}."
        )


def _gtts_accepts_timeout() -> bool:
    from gtts import gTTS

    return "timeout" in inspect.signature(gTTS.__init__).parameters


def fetch_gtts_mp3(text: str, tld: str) -> bytes:
    """MP3 bytes of ``text`` spoken in English with the accent of ``tld``."""
    from gtts import gTTS
    from gtts.tts import gTTSError

    # gTTS < 2.3 (the newest that installs next to Kedro 1.7's click>=8.2) has no timeout
    # argument and waits forever on a stalled connection, so bound it from outside too.
    options = {"timeout": GTTS_REQUEST_TIMEOUT_S} if _gtts_accepts_timeout() else {}
    speech = gTTS(text, lang="en", tld=tld, **options)
    buffer = io.BytesIO()
    try:
        _call_with_deadline(lambda: speech.write_to_fp(buffer), GTTS_REQUEST_TIMEOUT_S + 1)
    except (gTTSError, OSError) as error:
        raise ConnectionError(
            f"gTTS could not fetch speech for {text!r} from translate.google.{tld} "
            f"({type(error).__name__}: {error}); {_OFFLINE_HINT}."
        ) from error
    return buffer.getvalue()


def decode_mp3(data: bytes) -> tuple[np.ndarray, int]:
    """``(waveform float32 mono (num_samples,), sample_rate)`` from MP3 bytes."""
    waveform, sample_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return waveform.mean(axis=1, dtype=np.float32), int(sample_rate)


class GttsBackend(SpeechBackend):
    """Google Translate's voice (needs network): one accent per Google domain suffix. It has
    no knobs: Google sets rate and pitch, so one clip serves a sentence in any mix."""

    name = "gtts"
    sample_rate = GTTS_SAMPLE_RATE
    default_voices = DEFAULT_GTTS_VOICES
    knobs = {}
    description = "Google Translate's text-to-speech through gTTS (online)"

    def check_available(self) -> None:
        check_gtts_reachable()

    def check_voice(self, voice: str) -> None:
        validate_gtts_voice(voice)

    def check_before_rendering(self) -> None:
        check_gtts_reachable()

    def render(self, utterance: Utterance) -> np.ndarray:
        waveform, rate = decode_mp3(fetch_gtts_mp3(utterance.text, utterance.voice))
        if rate != GTTS_SAMPLE_RATE:
            from cemap.speech.features import resample_to

            waveform = resample_to(waveform, rate, GTTS_SAMPLE_RATE)
        return np.clip(np.round(waveform * 32768.0), -32768, 32767).astype(np.int16)

    def check_knobs(self, knobs) -> None:
        # Google ignores rate and pitch: an utterance drawn for eSpeak NG may carry them.
        super().check_knobs({k: v for k, v in knobs.items() if k not in ("rate", "pitch")})

    def cache_fields(self, utterance: Utterance) -> dict[str, object]:
        # No knobs: one clip serves every rate/pitch a sentence was drawn with.
        return {"engine": "google-translate", "rate": 0, "pitch": 0}
