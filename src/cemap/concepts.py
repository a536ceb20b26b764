"""The project's vocabulary, defined once: modalities, attributes, splits.

Every other module imports these names instead of spelling them again; catalog entries,
parameters and metric names use the same words (``image.embeddings``,
``coherence/text_to_image/test/strict``).
"""

from __future__ import annotations

#: The three modalities, in the order the joint model takes them.
MODALITIES = ("image", "text", "speech")
#: What a sample shows: the digit and the colour of its left and its right side. Labels build
#: the data and judge results; they never train the embeddings or the joint model.
ATTRIBUTES = ("digit_left", "color_left", "digit_right", "color_right")
#: The splits of ``metadata``, in row order. ``heldout_tuples`` holds whole (digit, colour,
#: digit, colour) combinations never trained on; ``heldout_pairs`` the combinations showing a
#: (digit, colour) pair that never appears in training at all (see :mod:`cemap.data.splits`).
SPLITS = ("train", "val", "test", "heldout_tuples", "heldout_pairs")
#: The splits every evaluation metric is reported on.
EVALUATION_SPLITS = ("test", "heldout_tuples", "heldout_pairs")
