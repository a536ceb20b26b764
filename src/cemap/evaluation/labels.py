"""Attribute labels as judges read and write them: ``(N, 4) int64`` indices.

The order is :data:`cemap.concepts.ATTRIBUTES`: digit (0..9) and colour (index into the
palette) of the left and the right side; ``-1`` (:data:`UNKNOWN`) where a judge cannot tell.
Labels build the data and judge results; they never train the embeddings or the joint model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cemap.concepts import ATTRIBUTES
from cemap.data.sentences import DIGIT_WORDS

N_DIGITS = len(DIGIT_WORDS)
UNKNOWN = -1  # the label index of an attribute a judge could not read


def palette_of(metadata: pd.DataFrame) -> list[str]:
    """The palette's colour names, in a fixed order derived from the data alone."""
    return sorted(set(metadata["color_left"]) | set(metadata["color_right"]))


def encode_attributes(table: pd.DataFrame | Sequence[Any], colors: Sequence[str]) -> np.ndarray:
    """``(N, 4) int64`` label indices from a table with the four attribute columns.

    ``table`` is the ``metadata`` DataFrame (or any rows with ``digit_left``, ``color_left``,
    ``digit_right``, ``color_right``, e.g. a list of ``DigitPair``); colours become their index in
    ``colors`` (the palette, a list of names or the palette dict).
    """
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(list(table))
    missing = [a for a in ATTRIBUTES if a not in frame.columns]
    if missing:
        raise ValueError(
            f"The attribute table lacks the columns {missing}; it has {list(frame.columns)}. "
            "Pass the metadata table written by the data_generation pipeline."
        )
    color_index = {name: i for i, name in enumerate(colors)}
    codes = np.empty((len(frame), len(ATTRIBUTES)), dtype=np.int64)
    for j, attribute in enumerate(ATTRIBUTES):
        values = frame[attribute]
        if attribute.startswith("color"):
            unknown = sorted(set(values) - set(color_index))
            if unknown:
                raise ValueError(
                    f"{attribute} has colours {unknown} that are not in the palette "
                    f"{list(color_index)}; pass the palette the data was generated with."
                )
            codes[:, j] = values.map(color_index).to_numpy()
        else:
            codes[:, j] = values.to_numpy(dtype=np.int64)
    return codes


def decode_attributes(codes: np.ndarray, colors: Sequence[str]) -> pd.DataFrame:
    """The inverse of :func:`encode_attributes`: a table with the four attribute columns.

    ``codes`` is ``(N, 4)`` label indices; ``-1`` becomes a missing value (``<NA>`` digit,
    ``None`` colour).
    """
    codes = np.asarray(codes)
    colors = list(colors)
    frame = {}
    for j, attribute in enumerate(ATTRIBUTES):
        column = codes[:, j]
        if attribute.startswith("color"):
            frame[attribute] = [colors[c] if c >= 0 else None for c in column]
        else:
            frame[attribute] = pd.array([d if d >= 0 else None for d in column], dtype="Int64")
    return pd.DataFrame(frame)


def attribute_class_names(colors: Sequence[str]) -> list[list[str]]:
    """Class names per attribute, in :data:`ATTRIBUTES` order (digits as ``"0"``..``"9"``)."""
    digits = [str(d) for d in range(N_DIGITS)]
    return [digits, list(colors), digits, list(colors)]
