"""Speech for CEMap: sentences rendered by TTS backends, cached, turned into log-mels.

Backends (one strategy class each, registered in :mod:`cemap.speech.backends`): ``espeak``
(eSpeak NG through ctypes, offline, the default), ``gtts`` (Google Translate's voice, needs
network) and ``piper`` (a neural voice, offline). A :class:`~cemap.speech.mix.VoiceMix` says
which backends, voices and knob ranges speak a dataset. Nothing here depends on Kedro.
"""

from cemap.speech.backend import Knob, SpeechBackend
from cemap.speech.backends import BACKENDS, get_backend
from cemap.speech.espeak import DEFAULT_ESPEAK_VOICES, ESPEAK_SAMPLE_RATE
from cemap.speech.features import LogMelSpec, resample_to
from cemap.speech.google_tts import DEFAULT_GTTS_VOICES, GTTS_SAMPLE_RATE
from cemap.speech.mix import BackendShare, VoiceMix
from cemap.speech.piper import DEFAULT_PIPER_VOICES, PIPER_SAMPLE_RATE
from cemap.speech.rendering import (
    RenderStats,
    backend_sample_rate,
    check_backend_available,
    fill_cache,
    render_log_mels,
    render_mixed,
    render_speech,
)
from cemap.speech.utterances import (
    DEFAULT_PITCH_RANGE,
    DEFAULT_RATE_RANGE,
    Utterance,
    draw_utterances,
)

#: Voices per backend, for speaker variety.
DEFAULT_VOICES = {name: backend.default_voices for name, backend in BACKENDS.items()}

__all__ = [
    "BACKENDS",
    "DEFAULT_ESPEAK_VOICES",
    "DEFAULT_GTTS_VOICES",
    "DEFAULT_PIPER_VOICES",
    "DEFAULT_PITCH_RANGE",
    "DEFAULT_RATE_RANGE",
    "DEFAULT_VOICES",
    "ESPEAK_SAMPLE_RATE",
    "GTTS_SAMPLE_RATE",
    "PIPER_SAMPLE_RATE",
    "BackendShare",
    "Knob",
    "LogMelSpec",
    "RenderStats",
    "SpeechBackend",
    "Utterance",
    "VoiceMix",
    "backend_sample_rate",
    "check_backend_available",
    "draw_utterances",
    "fill_cache",
    "get_backend",
    "render_log_mels",
    "render_mixed",
    "render_speech",
    "resample_to",
]
