"""What to say and how: one :class:`Utterance` per sentence, speakers drawn at random."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Speaking rates (words per minute, inclusive) for eSpeak NG; its default is 175.
DEFAULT_RATE_RANGE = (150, 200)
#: eSpeak NG base pitch (0..100, inclusive); its default is 50.
DEFAULT_PITCH_RANGE = (30, 70)


@dataclass(frozen=True)
class Utterance:
    """One sentence and the speaker that says it.

    ``voice``: an eSpeak NG voice (``"en-us"``, ``"en-gb"``, ``"en-us+f3"``) for the
    ``espeak`` backend, a Google domain suffix (``"com"``, ``"co.uk"``) for ``gtts``.
    ``rate`` in words per minute and ``pitch`` in 0..100 are used by ``espeak`` only.
    """

    text: str
    voice: str
    rate: int
    pitch: int


def draw_utterances(
    texts: Sequence[str],
    voices: Sequence[str],
    rate_range: tuple[int, int],
    pitch_range: tuple[int, int],
    rng: np.random.Generator,
) -> list[Utterance]:
    """One utterance per text: a voice drawn uniformly from ``voices``, rate and pitch
    drawn uniformly from the inclusive integer ranges."""
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
