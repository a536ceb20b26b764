"""The registry of speech backends: adding one is a module with a
:class:`~cemap.speech.backend.SpeechBackend` subclass and one line here."""

from __future__ import annotations

from cemap.speech.backend import SpeechBackend
from cemap.speech.espeak import EspeakBackend
from cemap.speech.google_tts import GttsBackend
from cemap.speech.piper import PiperBackend

#: Every backend by name: ``espeak`` (offline, the default), ``gtts`` (Google, online),
#: ``piper`` (neural, offline).
BACKENDS: dict[str, SpeechBackend] = {
    backend.name: backend for backend in (EspeakBackend(), GttsBackend(), PiperBackend())
}


def get_backend(name: str) -> SpeechBackend:
    """The backend called ``name``; ValueError naming it and the choices if there is none."""
    try:
        return BACKENDS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown speech backend {name!r}; use one of {', '.join(BACKENDS)} "
            "('espeak' is the offline default)."
        ) from None
