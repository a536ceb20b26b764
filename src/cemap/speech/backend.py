"""What every speech backend provides: one small strategy class per TTS engine.

A backend says its name, the sample rate of its clips, its default voices and knobs (the
synthesis settings drawn per utterance for speaker variety, e.g. eSpeak NG's rate and pitch),
checks that it can run and that a voice or knob value is valid, renders one utterance, and
says what besides the text and voice determines a clip (what goes into the cache key).
The registry of backends is :mod:`cemap.speech.backends`; nothing else names a backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cemap.speech.utterances import Utterance


@dataclass(frozen=True)
class Knob:
    """One synthesis setting: its kind, the values the engine accepts, and the range a
    default mix draws from (inclusive, uniformly). ``integer`` knobs are drawn as integers;
    float knobs are rounded to ``decimals`` so metadata and cache keys stay readable."""

    name: str
    limits: tuple[float, float]
    default_range: tuple[float, float]
    integer: bool = False
    decimals: int = 3
    meaning: str = ""

    def check_range(self, low: float, high: float) -> str | None:
        """Why ``[low, high]`` is not a usable range for this knob, or None if it is."""
        if low > high:
            return f"[{low}, {high}] has low > high; give [low, high]"
        if low < self.limits[0] or high > self.limits[1]:
            return (
                f"[{low}, {high}] is outside the accepted {list(self.limits)}; "
                f"choose a range inside it (default {list(self.default_range)})"
            )
        if self.integer and (low != int(low) or high != int(high)):
            return f"[{low}, {high}] must be whole numbers ({self.meaning or self.name})"
        return None

    def draw(self, low: float, high: float, size: int, rng: np.random.Generator) -> np.ndarray:
        """``size`` values drawn uniformly from ``[low, high]``."""
        if self.integer:
            return rng.integers(int(low), int(high) + 1, size=size).astype(np.float64)
        return np.round(rng.uniform(low, high, size=size), self.decimals)


class SpeechBackend(ABC):
    """One TTS engine. Subclasses set the class attributes and implement the methods."""

    #: The name used in parameters, metadata and the cache folder.
    name: str
    #: Hz of the clips :meth:`render` returns.
    sample_rate: int
    #: Voices used when a mix names none.
    default_voices: tuple[str, ...]
    #: Synthesis knobs drawn per utterance, by name.
    knobs: Mapping[str, Knob] = {}
    #: One line for error messages and docs: what the backend is and how to get it.
    description: str = ""
    #: Clips per worker process below which starting one costs more than it saves (None:
    #: the renderer's default, right for engines that take milliseconds per clip).
    min_clips_per_worker: int | None = None

    @abstractmethod
    def check_available(self) -> None:
        """Return quickly if the backend can render now; raise RuntimeError (or
        ConnectionError) naming what is missing and how to fix it otherwise."""

    @abstractmethod
    def check_voice(self, voice: str) -> None:
        """ValueError naming ``voice`` and what to use instead, unless the backend has it."""

    def voice_identity(self, voice: str) -> str:
        """What ``voice`` stands for in the engine: two names of one voice give the same."""
        return voice

    def with_variant(self, voice: str, variant: str) -> str:
        """``voice`` spoken with a speaker ``variant``; backends without variants refuse."""
        raise ValueError(
            f"the {self.name} backend has no voice variants (got {variant!r} for {voice!r}); "
            "leave its variants empty."
        )

    def check_knobs(self, knobs: Mapping[str, float]) -> None:
        """ValueError unless every knob of this backend is given and accepted by the engine."""
        unknown = sorted(set(knobs) - set(self.knobs))
        if unknown:
            raise ValueError(
                f"the {self.name} backend has no knob {unknown[0]!r}; its knobs are "
                f"{sorted(self.knobs) or 'none'}."
            )
        for name, knob in self.knobs.items():
            if name not in knobs:
                raise ValueError(f"the {self.name} backend needs a value for its knob {name!r}.")
            value = knobs[name]
            if not knob.limits[0] <= value <= knob.limits[1]:
                raise ValueError(
                    f"{self.name} {name}={value} is outside {list(knob.limits)}; choose a "
                    f"{name} range inside it (e.g. {list(knob.default_range)})."
                )

    def check_utterance(self, utterance: Utterance) -> None:
        """The voice and knobs of ``utterance`` are valid for this backend (ValueError if not)."""
        self.check_knobs(utterance.knob_values())
        self.check_voice(utterance.voice)

    @abstractmethod
    def render(self, utterance: Utterance) -> np.ndarray:
        """``utterance`` spoken: int16 mono samples ``(num_samples,)`` at :attr:`sample_rate`,
        untrimmed, a pure function of what :meth:`cache_fields` and the text and voice say."""

    @abstractmethod
    def cache_fields(self, utterance: Utterance) -> dict[str, object]:
        """Everything besides the text and voice that determines the clip: engine version
        and the knob values the engine uses (a knob it ignores must not split the cache)."""

    def check_before_rendering(self) -> None:
        """Called once before a batch of clips is rendered (e.g. a network check); by default
        there is nothing to check."""
        return None
