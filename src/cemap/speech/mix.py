"""Who speaks a dataset: several backends with weights, each with its voices and knob ranges.

A :class:`VoiceMix` assigns every sentence a backend (exact shares of the rows by weight, in
random order), then one of that backend's voices uniformly, then each of the backend's knobs
uniformly from its range (eSpeak NG's rate and pitch, piper's length and noise scales).
:meth:`VoiceMix.check` validates everything against the backends themselves (installed,
voices known, ranges inside what the engine accepts) before any work is done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cemap.speech.backends import BACKENDS, get_backend
from cemap.speech.utterances import Utterance


@dataclass(frozen=True)
class BackendShare:
    """One backend's part of a mix: its weight, voices and ``{knob: (low, high)}`` ranges
    (a knob left out uses the backend's default range)."""

    backend: str
    weight: float
    voices: tuple[str, ...]
    knob_ranges: tuple[tuple[str, tuple[float, float]], ...] = ()

    @classmethod
    def build(
        cls,
        backend: str,
        weight: float = 1.0,
        voices: Sequence[str] | None = None,
        variants: Sequence[str] = (),
        knobs: Mapping[str, Sequence[float]] | None = None,
    ) -> BackendShare:
        """A share from configuration: ``voices`` (default: the backend's) each spoken
        plainly and with every one of ``variants`` (``en-us`` + ``m3`` → ``en-us+m3``)."""
        strategy = get_backend(backend)
        base = strategy.default_voices if voices is None else tuple(voices)
        expanded = list(base)
        for voice in base:
            expanded += [strategy.with_variant(voice, variant) for variant in variants]
        ranges = tuple(
            sorted((name, (float(r[0]), float(r[1]))) for name, r in (knobs or {}).items())
        )
        return cls(backend, float(weight), tuple(dict.fromkeys(expanded)), ranges)

    def ranges(self) -> dict[str, tuple[float, float]]:
        """Every knob of the backend with the range it is drawn from."""
        given = dict(self.knob_ranges)
        knobs = get_backend(self.backend).knobs
        return {name: given.get(name, knob.default_range) for name, knob in knobs.items()}


@dataclass(frozen=True)
class VoiceMix:
    """Backends with weights; see the module docstring for how utterances are drawn."""

    shares: tuple[BackendShare, ...]

    def voices(self) -> list[tuple[str, str]]:
        """Every ``(backend, voice)`` the mix can draw."""
        return [(share.backend, voice) for share in self.shares for voice in share.voices]

    def knob_names(self) -> list[str]:
        """The knobs of every backend in the mix, backend by backend: the metadata's knob
        columns."""
        names = (name for share in self.shares for name in get_backend(share.backend).knobs)
        return list(dict.fromkeys(names))

    def check(self, key: str, voices_key: str | None = "voices") -> None:
        """ValueError naming ``key``, the bad value and the fix, or RuntimeError /
        ConnectionError saying what to install or reach, unless every backend is known and
        available, every voice exists and every knob range is accepted. Messages name a
        voice as ``<key>.<backend>.<voices_key>`` (``<key>.<backend>`` for None)."""
        if not self.shares:
            raise ValueError(f"{key} names no backend; give at least one, e.g. espeak.")
        for share in self.shares:
            where = f"{key}.{share.backend}"
            if share.backend not in BACKENDS:
                raise ValueError(
                    f"{key} names unknown speech backend {share.backend!r}; use one of "
                    f"{list(BACKENDS)} ('espeak' is the offline default)."
                )
            strategy = BACKENDS[share.backend]
            if not share.weight > 0:
                raise ValueError(f"{where}.weight={share.weight!r} must be > 0, e.g. 1.")
            if not share.voices:
                raise ValueError(f"{where} names no voice; name at least one.")
            for name, (low, high) in share.knob_ranges:
                if name not in strategy.knobs:
                    raise ValueError(
                        f"{where}.knobs has {name!r}, which the {share.backend} backend does not "
                        f"have; its knobs are {sorted(strategy.knobs) or 'none'}."
                    )
                problem = strategy.knobs[name].check_range(low, high)
                if problem:
                    raise ValueError(f"{where}.knobs.{name}={problem}.")
            try:
                strategy.check_available()
            except (RuntimeError, OSError) as error:
                raise type(error)(f"{where}: {error}") from None
            for voice in share.voices:
                try:
                    strategy.check_voice(voice)
                except (ValueError, RuntimeError) as error:
                    voices = f"{where}.{voices_key}" if voices_key else where
                    raise type(error)(f"{voices} has {voice!r}: {error}") from None

    def draw(self, texts: Sequence[str], rng: np.random.Generator) -> list[Utterance]:
        """One utterance per text. Each backend speaks ``round(weight share × N)`` rows
        (largest remainders break ties), in random order; voices and knobs are uniform."""
        n = len(texts)
        weights = np.array([share.weight for share in self.shares], dtype=np.float64)
        quotas = weights / weights.sum() * n
        counts = np.floor(quotas).astype(np.int64)
        leftover = n - int(counts.sum())
        counts[np.argsort(-(quotas - counts), kind="stable")[:leftover]] += 1
        assignment = rng.permutation(np.repeat(np.arange(len(self.shares)), counts))
        utterances: list[Utterance | None] = [None] * n
        for s, share in enumerate(self.shares):
            rows = np.flatnonzero(assignment == s)
            voice_ix = rng.integers(len(share.voices), size=len(rows))
            strategy = get_backend(share.backend)
            values = {
                name: strategy.knobs[name].draw(low, high, len(rows), rng)
                for name, (low, high) in sorted(share.ranges().items())
            }
            for j, row in enumerate(rows):
                knobs = {name: float(v[j]) for name, v in values.items()}
                utterances[row] = Utterance.with_knobs(
                    texts[row], share.voices[voice_ix[j]], share.backend, knobs
                )
        return utterances  # type: ignore[return-value]


def utterance_from_row(
    text: str, backend: str, voice: str, knobs: Mapping[str, float]
) -> Utterance:
    """The utterance a metadata row describes: its backend's knobs taken from ``knobs``
    (the row's knob columns; other backends' columns are ignored)."""
    names = get_backend(backend).knobs
    return Utterance.with_knobs(text, voice, backend, {name: knobs[name] for name in names})
