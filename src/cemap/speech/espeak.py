"""eSpeak NG from the ``espeakng-loader`` wheel, driven through ctypes.

The engine runs in synchronous mode: ``espeak_Synth`` returns once the whole text has
been rendered, and every block of 16-bit samples arrives through the synth callback.
One engine per process, initialised lazily by :func:`get_engine`.

Determinism. eSpeak NG keeps a little state in C statics from one ``espeak_Synth`` to
the next (the index into its pitch-flutter table, the automatic gain control, a glottal
cycle counter, the noise generator of breathy voices), so the same text rendered twice
in a row comes out slightly different, and a clip would depend on which clips its
process happened to render before it. The engine therefore puts those statics back to
their load-time values before every utterance (their addresses come from the library's
ELF symbol table) and reseeds the noise generator. A clip is then a pure function of
(text, voice, rate, pitch), byte-identical to what a freshly loaded library renders,
whatever the worker count or the state of the cache. Where the symbols cannot be found
(a stripped or non-ELF build) the engine reloads the library before every utterance
instead: slower, equally exact. Klatt-synthesiser variants keep more state than that
and are refused.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import signal
import struct
import threading
import weakref
from importlib.metadata import version
from pathlib import Path

import espeakng_loader
import numpy as np

from cemap.speech.backend import Knob, SpeechBackend
from cemap.speech.utterances import Utterance

logger = logging.getLogger(__name__)

#: eSpeak NG renders at this rate (Hz), whatever the voice.
ESPEAK_SAMPLE_RATE = 22050

#: Several accents and speaker variants (``+f3`` female, ``+m3`` male) for speaker variety.
DEFAULT_ESPEAK_VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-us+m3", "en-gb+f4")

#: eSpeak NG clamps rates outside this range (words per minute).
ESPEAK_RATE_LIMITS = (80, 450)
#: eSpeak NG base pitch range.
ESPEAK_PITCH_LIMITS = (0, 100)

#: Voice variants (``<voice>+<variant>``) live in this folder of the eSpeak NG data.
_VARIANTS_DIR = Path("voices") / "!v"

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE = 1
_ESPEAK_PITCH = 3
_EE_OK = 0

# C statics that carry over between utterances, with their load-time values (wavegen.c).
_CARRIED_STATICS = {"Flutter_ix": 0, "agc": 256, "cycle_count": 0}
# Any probe text will do; it only has to be voiced long enough to move the flutter index.
_PROBE_TEXTS = ("cyan one on the left", "a magenta seven next to a yellow zero")

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def check_rate_and_pitch(rate: int, pitch: int) -> None:
    """ValueError unless eSpeak NG would use ``rate`` and ``pitch`` as given."""
    if not ESPEAK_RATE_LIMITS[0] <= rate <= ESPEAK_RATE_LIMITS[1]:
        raise ValueError(
            f"eSpeak NG rate {rate} wpm is outside {ESPEAK_RATE_LIMITS}; "
            "choose a rate range inside it (e.g. 150-200)."
        )
    if not ESPEAK_PITCH_LIMITS[0] <= pitch <= ESPEAK_PITCH_LIMITS[1]:
        raise ValueError(
            f"eSpeak NG pitch {pitch} is outside {ESPEAK_PITCH_LIMITS}; "
            "choose a pitch range inside it (e.g. 30-70)."
        )


def _elf_symbol_values(path: str | Path) -> dict[str, tuple[int, int]]:
    """``{name: (value, size)}`` for every symbol in a 64-bit little-endian ELF ``.symtab``.

    Function-local statics appear there as ``name.NNNN``. Returns ``{}`` for anything that
    is not such an ELF file or has no ``.symtab`` (stripped).
    """
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return {}
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    symbols: dict[str, tuple[int, int]] = {}
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != 2 or entsize != 24:  # SHT_SYMTAB, sizeof(Elf64_Sym)
            continue
        strtab = sections[link][4]
        for pos in range(offset, offset + size, entsize):
            st_name, _, _, _, st_value, st_size = struct.unpack_from("<IBBHQQ", data, pos)
            end = data.index(b"\0", strtab + st_name)
            symbols[data[strtab + st_name : end].decode("ascii", "replace")] = (st_value, st_size)
    return symbols


def _carried_static_offsets(library_path: str) -> dict[str, int] | None:
    """Offsets of the carried-over statics in the library, or None if any is missing."""
    symbols = _elf_symbol_values(library_path)
    offsets = {}
    for wanted in _CARRIED_STATICS:
        found = [
            value
            for name, (value, size) in symbols.items()
            if size == 4 and (name == wanted or name.rpartition(".")[0] == wanted)
        ]
        if len(found) != 1:
            return None
        offsets[wanted] = found[0]
    offsets["espeak_Synth"] = symbols.get("espeak_Synth", (0, 0))[0]
    return offsets if offsets["espeak_Synth"] else None


def _dlclose(handle: int) -> None:
    import _ctypes

    close = getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary
    close(handle)


class EspeakEngine:
    """One eSpeak NG instance; renders text to int16 PCM at :data:`ESPEAK_SAMPLE_RATE`.

    eSpeak NG is one global state per process, so only one engine may exist in a process
    (use :func:`get_engine`); :meth:`synthesize` holds a lock for threads.

    ``state_reset``: ``"statics"`` restores the carried-over C statics before each
    utterance, ``"reload"`` reloads the library before each utterance, ``"auto"`` uses
    ``"statics"`` when the symbols are found and a self-check passes.
    """

    def __init__(self, state_reset: str = "auto") -> None:
        if state_reset not in ("auto", "statics", "reload"):
            raise ValueError(
                f"state_reset must be 'auto', 'statics' or 'reload', got {state_reset!r}"
            )
        global _live_engine
        if _live_engine is not None and _live_engine() is not None:
            raise RuntimeError(
                "An EspeakEngine already exists in this process and eSpeak NG is one global "
                "state: use cemap.speech.espeak.get_engine() instead of a second engine."
            )
        _live_engine = weakref.ref(self)
        self._library_path = espeakng_loader.get_library_path()
        self._data_path = Path(espeakng_loader.get_data_path())
        self._lock = threading.Lock()
        self._samples: list[bytes] = []
        self._callback = _SynthCallback(self._collect)
        self._interrupted: BaseException | None = None
        self._resolved: dict[str, str] = {}
        self._voice_files: dict[str, str] | None = None
        self._lib: ctypes.CDLL | None = None
        self._load()
        offsets = None if state_reset == "reload" else _carried_static_offsets(self._library_path)
        if state_reset == "statics" and offsets is None:
            raise RuntimeError(
                f"{self._library_path} has no symbol table entries for {sorted(_CARRIED_STATICS)}; "
                "use state_reset='reload'"
            )
        self._static_offsets = offsets
        if state_reset == "auto" and offsets is not None and not self._statics_reset_works():
            logger.warning(
                "Resetting eSpeak NG's statics does not make its output repeatable with %s; "
                "reloading the library before every utterance instead (slower).",
                self._library_path,
            )
            self._static_offsets = None
        self.state_reset = "statics" if self._static_offsets is not None else "reload"

    # -- library lifetime -------------------------------------------------------------
    def _load(self) -> None:
        try:
            lib = ctypes.CDLL(self._library_path)
        except OSError as error:
            raise RuntimeError(
                f"Could not load eSpeak NG from {self._library_path} ({error}); "
                "reinstall it with `pip install --force-reinstall espeakng-loader`."
            ) from error
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))
        lib.espeak_Terminate.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self._data_path).encode(), 0)
        if rate != ESPEAK_SAMPLE_RATE:
            raise RuntimeError(
                f"espeak_Initialize returned {rate} with data {self._data_path} "
                f"(expected the sample rate {ESPEAK_SAMPLE_RATE}); the espeakng-loader "
                "installation looks broken: reinstall it."
            )
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib

    def _reload(self) -> None:
        lib = self._lib
        lib.espeak_Terminate()
        handle = lib._handle
        self._lib = None
        del lib
        _dlclose(handle)
        self._load()

    def _reset_statics(self) -> None:
        base = (
            ctypes.cast(self._lib.espeak_Synth, ctypes.c_void_p).value
            - self._static_offsets["espeak_Synth"]
        )
        for name, value in _CARRIED_STATICS.items():
            ctypes.c_int.from_address(base + self._static_offsets[name]).value = value

    def _statics_reset_works(self) -> bool:
        first = self._synthesize_locked(_PROBE_TEXTS[0], "en-us+f3", 175, 50)
        self._synthesize_locked(_PROBE_TEXTS[1], "en-gb+m3", 160, 30)
        return np.array_equal(first, self._synthesize_locked(_PROBE_TEXTS[0], "en-us+f3", 175, 50))

    # -- voices -----------------------------------------------------------------------
    def _language_voices(self) -> dict[str, str]:
        """Best voice identifier per language tag (``"en-gb"`` → ``"gmw/en"``)."""
        best: dict[str, tuple[int, str]] = {}
        voices = self._lib.espeak_ListVoices(None)
        i = 0
        while voices[i]:
            voice = voices[i].contents
            identifier = voice.identifier.decode()
            raw = ctypes.string_at(voice.languages, 256)
            pos = 0
            while pos < len(raw) and raw[pos] != 0:
                priority = raw[pos]
                end = raw.index(b"\0", pos + 1)
                tag = raw[pos + 1 : end].decode().lower()
                if tag not in best or priority < best[tag][0]:
                    best[tag] = (priority, identifier)
                pos = end + 1
            i += 1
        return {tag: identifier for tag, (_, identifier) in best.items()}

    def voice_identity(self, voice: str) -> str:
        """The eSpeak NG voice file (and variant) that ``voice`` selects, lower-cased: two
        spellings of one voice (``en-gb``, ``EN-GB``, ``gmw/en``) give the same."""
        with self._lock:
            resolved = self._resolve_locked(voice)
            if self._voice_files is None:
                self._voice_files = self._language_voices()
            base, _, variant = resolved.partition("+")
            identity = self._voice_files.get(base.lower(), base).lower()
        return f"{identity}+{variant}" if variant else identity

    def resolve_voice(self, voice: str) -> str:
        """The name ``espeak_SetVoiceByName`` accepts for ``voice``; ValueError if unknown."""
        with self._lock:
            return self._resolve_locked(voice)

    def _resolve_locked(self, voice: str) -> str:
        if voice in self._resolved:
            return self._resolved[voice]
        base, _, variant = voice.partition("+")
        if variant:
            variant_file = self._data_path / _VARIANTS_DIR / variant
            if not variant_file.is_file():
                known = sorted(p.name for p in variant_file.parent.iterdir())
                raise ValueError(
                    f"Unknown eSpeak NG voice variant {variant!r} in voice {voice!r}; "
                    f"use one of {', '.join(known)} (e.g. 'en-us+f3', 'en-gb+m3')."
                )
            if any(
                line.split()[:1] == ["klatt"]
                for line in variant_file.read_text(errors="replace").splitlines()
            ):
                raise ValueError(
                    f"Voice {voice!r} uses eSpeak NG's Klatt synthesiser, whose output is not "
                    "repeatable from clip to clip; choose a formant variant such as +f1..+f5 "
                    "or +m1..+m7."
                )
        name = None
        if base and self._lib.espeak_SetVoiceByName(base.encode()) == _EE_OK:
            name = base
        else:
            name = self._language_voices().get(base.lower())
        if name is None or self._lib.espeak_SetVoiceByName(name.encode()) != _EE_OK:
            raise ValueError(
                f"Unknown eSpeak NG voice {voice!r}; use a language such as 'en-us', 'en-gb', "
                "'en-gb-scotland' or 'en-029', optionally with a variant ('en-us+f3', 'en-gb+m3')."
            )
        resolved = f"{name}+{variant}" if variant else name
        self._resolved[voice] = resolved
        return resolved

    # -- synthesis --------------------------------------------------------------------
    def _collect(self, wav, num_samples: int, events) -> int:
        # ctypes swallows an exception raised in this callback: keep it, stop the synthesis
        # (1 = abort) and raise it once espeak_Synth returns, so a failed clip is never taken
        # for a whole one. Ctrl-C does not reach here (_sigint_deferred).
        try:
            if num_samples > 0 and wav:
                self._samples.append(ctypes.string_at(wav, num_samples * 2))
        except BaseException as error:  # noqa: BLE001 — re-raised by _synthesize_locked
            self._interrupted = error
            return 1
        return 0  # 0 = keep going

    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        """Render ``text``: int16 samples at 22,050 Hz, untrimmed, shape ``(num_samples,)``.

        ``rate`` in words per minute (80..450), ``pitch`` 0..100.
        """
        check_rate_and_pitch(rate, pitch)
        with self._lock:
            return self._synthesize_locked(text, voice, rate, pitch)

    def _synthesize_locked(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        name = self._resolve_locked(voice)
        if self._static_offsets is None:
            self._reload()
        else:
            self._reset_statics()
        # Breathy variants (+f2, +f3, +f5) mix in noise from eSpeak NG's generator.
        self._lib.espeak_ng_SetRandSeed(0)
        if self._lib.espeak_SetVoiceByName(name.encode()) != _EE_OK:
            raise RuntimeError(f"espeak_SetVoiceByName({name!r}) failed")
        self._lib.espeak_SetParameter(_ESPEAK_RATE, int(rate), 0)
        self._lib.espeak_SetParameter(_ESPEAK_PITCH, int(pitch), 0)
        encoded = text.encode("utf-8") + b"\0"
        self._samples, self._interrupted = [], None
        with _sigint_deferred():
            status = self._lib.espeak_Synth(
                encoded, len(encoded), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None
            )
        samples, self._samples = self._samples, []
        if self._interrupted is not None:
            error, self._interrupted = self._interrupted, None
            raise error
        if status != _EE_OK:
            raise RuntimeError(f"espeak_Synth failed with status {status} for {text!r}")
        if not samples:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([np.frombuffer(block, dtype="<i2") for block in samples])


@contextlib.contextmanager
def _sigint_deferred():
    """Ctrl-C during the block is acted on when the block ends, not inside it.

    Python runs a signal's handler at the next bytecode of the main thread — during
    espeak_Synth, inside the ctypes callback, where ctypes prints and swallows the
    KeyboardInterrupt, even at the callback's first instruction, before any ``try``. Here the
    handler only records the signal; the previous handler gets it once the block ends (by
    default: KeyboardInterrupt). Off the main thread, where no handler can be set, it does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                os.kill(os.getpid(), signal.SIGINT)


_engine: EspeakEngine | None = None
_live_engine: weakref.ref[EspeakEngine] | None = None
_engine_lock = threading.Lock()


def get_engine() -> EspeakEngine:
    """This process's engine, created on first use."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = EspeakEngine()
        return _engine


class EspeakBackend(SpeechBackend):
    """eSpeak NG inside the process (offline, the default): accents such as ``en-us``,
    ``en-gb-scotland`` or ``en-029``, each optionally with a variant (``+m1``…``+m7``,
    ``+f1``…``+f5``, ``+croak``, ``+whisper``, named variants such as ``+Annie``)."""

    name = "espeak"
    sample_rate = ESPEAK_SAMPLE_RATE
    default_voices = DEFAULT_ESPEAK_VOICES
    knobs = {
        "rate": Knob("rate", ESPEAK_RATE_LIMITS, (150, 200), integer=True, meaning="wpm"),
        "pitch": Knob("pitch", ESPEAK_PITCH_LIMITS, (30, 70), integer=True, meaning="0..100"),
    }
    description = "eSpeak NG (offline, bundled in the espeakng-loader wheel)"

    def check_available(self) -> None:
        get_engine()

    def check_voice(self, voice: str) -> None:
        get_engine().resolve_voice(voice)

    def voice_identity(self, voice: str) -> str:
        return get_engine().voice_identity(voice)

    def with_variant(self, voice: str, variant: str) -> str:
        return f"{voice}+{variant}"

    def check_knobs(self, knobs) -> None:
        if "rate" in knobs and "pitch" in knobs:  # eSpeak NG's own wording first
            check_rate_and_pitch(int(knobs["rate"]), int(knobs["pitch"]))
        super().check_knobs(knobs)

    def render(self, utterance: Utterance) -> np.ndarray:
        return get_engine().synthesize(
            utterance.text, utterance.voice, int(utterance.rate), int(utterance.pitch)
        )

    def cache_fields(self, utterance: Utterance) -> dict[str, object]:
        return {
            "engine": _espeak_version(),
            "rate": int(utterance.rate),
            "pitch": int(utterance.pitch),
        }


@functools.cache
def _espeak_version() -> str:
    return "espeakng-loader " + version("espeakng-loader")
