"""Which (digit, colour) combinations each split shows, and which are held out of training.

A combination is a tuple ``(digit_left, color_left, digit_right, color_right)``. Two held-out
modes: ``tuples`` removes a random fraction of the full tuples from training;
``digit_color_pairs`` removes every tuple that shows a chosen (digit, colour) pair on either
side. ``train``/``val``/``test`` draw from the remaining tuples, ``heldout`` from the removed ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from cemap.concepts import ATTRIBUTES, RESPOKEN_SPLITS, SPLITS
from cemap.data.sentences import DigitPair

HeldoutMode = Literal["tuples", "digit_color_pairs"]


def all_tuples(colors: Sequence[str]) -> list[DigitPair]:
    """Every combination in a fixed order: ``10 × |colors| × 10 × |colors|`` tuples."""
    return [
        DigitPair(d1, c1, d2, c2)
        for d1, c1, d2, c2 in itertools.product(range(10), colors, range(10), colors)
    ]


def heldout_mask(
    tuples: Sequence[DigitPair],
    mode: HeldoutMode,
    *,
    tuple_fraction: float,
    digit_color_pairs: Sequence[tuple[int, str]],
    seed: int,
) -> np.ndarray:
    """Boolean ``(len(tuples),)``: True where the tuple is held out of training."""
    if mode == "tuples":
        rng = np.random.default_rng([seed, 1])
        n_held = round(tuple_fraction * len(tuples))
        mask = np.zeros(len(tuples), dtype=bool)
        mask[rng.choice(len(tuples), size=n_held, replace=False)] = True
        return mask
    held = {(int(d), str(c)) for d, c in digit_color_pairs}
    return np.array(
        [
            (t.digit_left, t.color_left) in held or (t.digit_right, t.color_right) in held
            for t in tuples
        ]
    )


def missing_training_values(
    tuples: Sequence[DigitPair], held: np.ndarray, colors: Sequence[str]
) -> list[str]:
    """Attribute values that no training tuple shows, as ``"digit_left=3"``; empty when all are seen."""
    kept = [t for t, h in zip(tuples, held, strict=True) if not h]
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
        if not any(getattr(t, attribute) == value for t in kept)
    ]


def plan_samples(
    sizes: dict[str, int],
    tuples: Sequence[DigitPair],
    held: np.ndarray,
    n_templates: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One row per sample: ``split``, the four attributes and ``template_id``.

    Splits come in :data:`SPLITS` order; each draws its tuples uniformly (with replacement)
    from the kept tuples, or from the held-out ones for ``heldout``.
    """
    kept_ids, held_ids = np.flatnonzero(~held), np.flatnonzero(held)
    frames = []
    for split in (s for s in SPLITS if s not in RESPOKEN_SPLITS):
        pool = held_ids if split == "heldout" else kept_ids
        chosen = rng.choice(pool, size=sizes[split])
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
