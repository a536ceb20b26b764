"""Sentences that describe a double-digit image, and the rule-based parser that reads them back."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Each template names both digits and colours, left side first; ids are the list positions.
TEMPLATES = (
    "{c1} {d1} and {c2} {d2}",
    "a {c1} {d1} next to a {c2} {d2}",
    "{c1} {d1} on the left and {c2} {d2} on the right",
    "the left digit is a {c1} {d1} and the right is a {c2} {d2}",
)


class DigitPair(NamedTuple):
    """What a sample shows: left and right digit (0..9) and their colour names."""

    digit_left: int
    color_left: str
    digit_right: int
    color_right: str


def describe(pair: DigitPair, template_id: int) -> str:
    """The sentence for ``pair`` from template ``template_id``, digits as words, lower case."""
    return TEMPLATES[template_id].format(
        c1=pair.color_left,
        d1=DIGIT_WORDS[pair.digit_left],
        c2=pair.color_right,
        d2=DIGIT_WORDS[pair.digit_right],
    )


def parse_sentence(text: str, colors: Sequence[str]) -> DigitPair | None:
    """Read (digit, colour) of both sides back from any template's sentence; None if it fits none.

    Used to judge generated text and to check data; it never sees a label.
    """
    words = text.strip().lower().split()
    color_set, digit_index = set(colors), {w: i for i, w in enumerate(DIGIT_WORDS)}
    found = [
        (digit_index[words[i + 1]], words[i])
        for i in range(len(words) - 1)
        if words[i] in color_set and words[i + 1] in digit_index
    ]
    if len(found) != 2:
        return None
    (d1, c1), (d2, c2) = found
    pair = DigitPair(d1, c1, d2, c2)
    return (
        pair if any(describe(pair, t) == " ".join(words) for t in range(len(TEMPLATES))) else None
    )


def template_vocabulary(colors: Sequence[str]) -> list[str]:
    """Every word any sentence can use, sorted: the one vocabulary of the text modality."""
    words = {w for t in TEMPLATES for w in re.sub(r"\{\w+\}", " ", t).split()}
    return sorted(words | set(DIGIT_WORDS) | set(colors))
