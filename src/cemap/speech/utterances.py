"""What to say and how: one :class:`Utterance` per sentence, speakers drawn at random."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Speaking rates (words per minute, inclusive) for eSpeak NG; its default is 175.
DEFAULT_RATE_RANGE = (150, 200)
#: eSpeak NG base pitch (0..100, inclusive); its default is 50.
DEFAULT_PITCH_RANGE = (30, 70)


@dataclass(frozen=True)
class Utterance:
    """One sentence and the speaker that says it.

    ``voice``: a voice of the backend (eSpeak NG ``"en-us+f3"``, a Google domain suffix
    ``"co.uk"``, a piper voice ``"en_US-joe-medium"``). ``rate`` (words per minute) and
    ``pitch`` (0..100) are eSpeak NG's knobs, kept as fields because eSpeak NG is the default
    backend; any other backend's knobs are in ``knobs`` as sorted ``(name, value)`` pairs.
    ``backend``: the backend that speaks it, or None for "whichever renders it".
    """

    text: str
    voice: str
    rate: int | None = None
    pitch: int | None = None
    backend: str | None = None
    knobs: tuple[tuple[str, float], ...] = ()

    def knob_values(self) -> dict[str, float]:
        """Every knob set on this utterance, ``{name: value}`` (rate and pitch included)."""
        values: dict[str, float] = dict(self.knobs)
        if self.rate is not None:
            values["rate"] = self.rate
        if self.pitch is not None:
            values["pitch"] = self.pitch
        return values

    @classmethod
    def with_knobs(
        cls, text: str, voice: str, backend: str | None, knobs: Mapping[str, float]
    ) -> Utterance:
        """An utterance from ``{name: value}`` knobs; ``rate`` and ``pitch`` go to their fields."""
        knobs = dict(knobs)
        rate, pitch = knobs.pop("rate", None), knobs.pop("pitch", None)
        return cls(
            text=text,
            voice=voice,
            rate=None if rate is None else int(rate),
            pitch=None if pitch is None else int(pitch),
            backend=backend,
            knobs=tuple(sorted((k, float(v)) for k, v in knobs.items())),
        )


def draw_utterances(
    texts: Sequence[str],
    voices: Sequence[str],
    rate_range: tuple[int, int],
    pitch_range: tuple[int, int],
    rng: np.random.Generator,
) -> list[Utterance]:
    """One utterance per text: a voice drawn uniformly from ``voices``, rate and pitch
    drawn uniformly from the inclusive integer ranges (eSpeak NG's knobs)."""
    if not voices:
        raise ValueError("voices is empty; give at least one voice, e.g. ['en-us', 'en-gb']")
    for name, (low, high) in (("rate_range", rate_range), ("pitch_range", pitch_range)):
        if low > high:
            raise ValueError(f"{name} {(low, high)} has low > high; give (low, high)")
    n = len(texts)
    voice_ix = rng.integers(len(voices), size=n)
    rates = rng.integers(rate_range[0], rate_range[1] + 1, size=n)
    pitches = rng.integers(pitch_range[0], pitch_range[1] + 1, size=n)
    return [
        Utterance(text=text, voice=voices[v], rate=int(r), pitch=int(p))
        for text, v, r, p in zip(texts, voice_ix, rates, pitches, strict=True)
    ]
