"""The text judge: reads the attributes of a sentence by rule, no training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from cemap.concepts import ATTRIBUTES
from cemap.data.images import DEFAULT_PALETTE
from cemap.data.sentences import DIGIT_WORDS, parse_sentence
from cemap.evaluation.labels import UNKNOWN


class TextJudge:
    """Reads the attributes of sentences by rule (:func:`cemap.data.sentences.parse_sentence`).

    With ``require_template=True`` (default) a sentence must be exactly one of the templates,
    else all four attributes are ``-1``: a malformed sentence is not a coherent description.
    With ``False``, it falls back to the first two "<colour> <digit>" word pairs, left then
    right, and marks only what it cannot find as ``-1``.
    """

    kind: ClassVar[str] = "text_judge"
    modality: ClassVar[str] = "text"

    def __init__(
        self, colors: Sequence[str] = tuple(DEFAULT_PALETTE), require_template: bool = True
    ) -> None:
        self.colors = list(colors)
        self.require_template = require_template
        self._color_index = {c: i for i, c in enumerate(self.colors)}
        self._digit_index = {w: i for i, w in enumerate(DIGIT_WORDS)}

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """``(N, 4) int64`` label indices of ``texts``; ``-1`` where unreadable."""
        out = np.full((len(texts), len(ATTRIBUTES)), UNKNOWN, dtype=np.int64)
        for i, text in enumerate(texts):
            pair = parse_sentence(text, self.colors)
            if pair is not None:
                out[i] = (
                    pair.digit_left,
                    self._color_index[pair.color_left],
                    pair.digit_right,
                    self._color_index[pair.color_right],
                )
            elif not self.require_template:
                out[i] = self._read_pairs(text)
        return out

    predict_array = predict

    def _read_pairs(self, text: str) -> list[int]:
        words = text.strip().lower().split()
        pairs = [
            (self._digit_index[words[i + 1]], self._color_index[words[i]])
            for i in range(len(words) - 1)
            if words[i] in self._color_index and words[i + 1] in self._digit_index
        ]
        out = [UNKNOWN] * len(ATTRIBUTES)
        for side, (digit, color) in enumerate(pairs[:2]):
            out[2 * side], out[2 * side + 1] = digit, color
        return out
