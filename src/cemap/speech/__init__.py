"""Speech for CEMap: sentences rendered by a TTS backend, cached, turned into log-mels.

Backends: ``espeak`` (eSpeak NG through ctypes, offline, the default) and ``gtts``
(Google Translate's voice, needs network). Nothing here depends on Kedro.
"""

from cemap.speech.espeak import DEFAULT_ESPEAK_VOICES, ESPEAK_SAMPLE_RATE
from cemap.speech.features import LogMelSpec, resample_to
from cemap.speech.google_tts import DEFAULT_GTTS_VOICES, GTTS_SAMPLE_RATE
from cemap.speech.rendering import (
    BACKENDS,
    RenderStats,
    backend_sample_rate,
    check_backend_available,
    render_log_mels,
    render_speech,
)
from cemap.speech.utterances import (
    DEFAULT_PITCH_RANGE,
    DEFAULT_RATE_RANGE,
    Utterance,
    draw_utterances,
)

#: Voices per backend, for speaker variety.
DEFAULT_VOICES = {"espeak": DEFAULT_ESPEAK_VOICES, "gtts": DEFAULT_GTTS_VOICES}

__all__ = [
    "BACKENDS",
    "DEFAULT_ESPEAK_VOICES",
    "DEFAULT_GTTS_VOICES",
    "DEFAULT_PITCH_RANGE",
    "DEFAULT_RATE_RANGE",
    "DEFAULT_VOICES",
    "ESPEAK_SAMPLE_RATE",
    "GTTS_SAMPLE_RATE",
    "LogMelSpec",
    "RenderStats",
    "Utterance",
    "backend_sample_rate",
    "check_backend_available",
    "draw_utterances",
    "render_log_mels",
    "render_speech",
    "resample_to",
]
