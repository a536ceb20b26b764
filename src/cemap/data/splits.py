"""Which (digit, colour) combinations each split shows, and which are held out of training.

A combination is a tuple ``(digit_left, color_left, digit_right, color_right)``. Two kinds of
combination are held out of training at once, each scored as its own split:

- ``heldout_pairs``: every tuple that shows one of the chosen (digit, colour) pairs on either
  side, so those pairs never appear in ``train`` or ``val`` at all — the strict test of
  composing a digit and a colour never seen together;
- ``heldout_tuples``: a random ``tuple_fraction`` of the tuples that show no such pair, so
  each of their (digit, colour) pairs is seen in training, only not in that combination.

``train``/``val``/``test`` draw from the remaining tuples; the two held-out sets are disjoint.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cemap.concepts import ATTRIBUTES, SPLITS
from cemap.data.sentences import DigitPair


def all_tuples(colors: Sequence[str]) -> list[DigitPair]:
    """Every combination in a fixed order: ``10 × |colors| × 10 × |colors|`` tuples."""
    return [
        DigitPair(d1, c1, d2, c2)
        for d1, c1, d2, c2 in itertools.product(range(10), colors, range(10), colors)
    ]


@dataclass(frozen=True)
class HeldOut:
    """Boolean masks over a tuple list: which tuples each held-out split draws from.

    ``tuples`` and ``pairs`` are disjoint; a tuple in neither is kept for training.
    """

    tuples: np.ndarray
    pairs: np.ndarray

    @property
    def kept(self) -> np.ndarray:
        """True where the tuple may be trained on (and shown in ``val`` and ``test``)."""
        return ~(self.tuples | self.pairs)

    def pool(self, split: str) -> np.ndarray:
        """The mask of the tuples ``split`` draws its samples from."""
        return {"heldout_tuples": self.tuples, "heldout_pairs": self.pairs}.get(split, self.kept)


def shows_pair(
    tuples: Sequence[DigitPair], digit_color_pairs: Sequence[tuple[int, str]]
) -> np.ndarray:
    """Boolean ``(len(tuples),)``: True where a listed (digit, colour) pair is on either side."""
    held = {(int(d), str(c)) for d, c in digit_color_pairs}
    return np.array(
        [
            (t.digit_left, t.color_left) in held or (t.digit_right, t.color_right) in held
            for t in tuples
        ],
        dtype=bool,
    )


def held_out(
    tuples: Sequence[DigitPair],
    *,
    tuple_fraction: float,
    digit_color_pairs: Sequence[tuple[int, str]],
    seed: int,
) -> HeldOut:
    """The held-out tuples of both kinds: every tuple showing a listed pair, and a random
    ``tuple_fraction`` (rounded) of the tuples that show none."""
    pairs = shows_pair(tuples, digit_color_pairs)
    free = np.flatnonzero(~pairs)
    rng = np.random.default_rng([seed, 1])
    chosen = rng.choice(free, size=round(tuple_fraction * len(free)), replace=False)
    whole = np.zeros(len(tuples), dtype=bool)
    whole[chosen] = True
    return HeldOut(tuples=whole, pairs=pairs)


def missing_training_values(
    tuples: Sequence[DigitPair], kept: np.ndarray, colors: Sequence[str]
) -> list[str]:
    """Attribute values that no kept tuple shows, as ``"digit_left=3"``; empty when all are seen."""
    kept_tuples = [t for t, k in zip(tuples, kept, strict=True) if k]
    expected = {
        "digit_left": range(10),
        "color_left": colors,
        "digit_right": range(10),
        "color_right": colors,
    }
    return [
        f"{attribute}={value}"
        for attribute, values in expected.items()
        for value in values
        if not any(getattr(t, attribute) == value for t in kept_tuples)
    ]


def plan_samples(
    sizes: dict[str, int],
    tuples: Sequence[DigitPair],
    held: HeldOut,
    n_templates: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One row per sample: ``split``, the four attributes and ``template_id``.

    Splits come in :data:`SPLITS` order; each draws its tuples uniformly (with replacement)
    from its pool (:meth:`HeldOut.pool`): the kept tuples, or one kind of held-out tuple.
    """
    frames = []
    for split in SPLITS:
        chosen = rng.choice(np.flatnonzero(held.pool(split)), size=sizes[split])
        frame = pd.DataFrame([tuples[i] for i in chosen], columns=list(ATTRIBUTES))
        frame.insert(0, "split", split)
        frame["template_id"] = rng.integers(0, n_templates, size=sizes[split])
        frames.append(frame)
    plan = pd.concat(frames, ignore_index=True)
    plan.insert(0, "sample_id", np.arange(len(plan), dtype=np.int64))
    return plan


def draw_source_digits(
    digit_labels: np.ndarray,
    wanted_digits: np.ndarray,
    pool: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """For each wanted digit, a random source index from ``pool`` whose label is that digit."""
    chosen = np.empty(len(wanted_digits), dtype=np.int64)
    for digit in range(10):
        where = np.flatnonzero(wanted_digits == digit)
        candidates = pool[digit_labels[pool] == digit]
        if len(where) and not len(candidates):
            raise ValueError(f"The digit pool has no '{digit}'; enlarge the pool fractions.")
        chosen[where] = rng.choice(candidates, size=len(where))
    return chosen
