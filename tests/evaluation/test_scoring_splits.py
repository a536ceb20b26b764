"""Which splits are scored in which directions: unseen_voices only from speech."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cemap.concepts import ATTRIBUTES
from cemap.evaluation.scoring import generate_images, splits_from


def _metadata(splits):
    n = len(splits)
    frame = pd.DataFrame({"sample_id": np.arange(n), "split": splits, "text": ["red one"] * n})
    for attribute in ATTRIBUTES:
        frame[attribute] = 0 if attribute.startswith("digit") else "red"
    return frame


class _Generator:
    def generate(self, source, inputs, target, **kwargs):
        return np.zeros((len(inputs), 28, 56, 3), np.uint8)


def test_unseen_voices_is_scored_from_speech_only_and_absent_splits_are_skipped():
    metadata = _metadata(["train", "test", "test", "unseen_voices", "unseen_voices"])
    assert splits_from(metadata, None) == ["test"]
    assert splits_from(metadata, "text") == ["test"]
    assert splits_from(metadata, "speech") == ["test", "unseen_voices"]
    with_heldout = _metadata(["test", "heldout_pairs", "unseen_voices", "heldout_tuples"])
    assert splits_from(with_heldout, "image") == ["test", "heldout_tuples", "heldout_pairs"]
    assert splits_from(with_heldout, "speech") == [
        "test",
        "heldout_tuples",
        "heldout_pairs",
        "unseen_voices",
    ]
    assert splits_from(with_heldout, "speech", ["unseen_voices", "heldout"]) == ["unseen_voices"]


def test_images_are_generated_from_speech_on_unseen_voices_and_other_splits_unchanged():
    metadata = _metadata(["test", "test", "heldout_pairs", "unseen_voices", "unseen_voices"])
    embeddings = {m: np.zeros((len(metadata), 4), np.float32) for m in ("text", "speech")}
    images, index = generate_images(_Generator(), embeddings, metadata)
    groups = index.groupby(["direction", "split"], sort=False).size().to_dict()
    assert groups == {
        ("text_to_image", "test"): 2,
        ("text_to_image", "heldout_pairs"): 1,
        ("speech_to_image", "test"): 2,
        ("speech_to_image", "heldout_pairs"): 1,
        ("speech_to_image", "unseen_voices"): 2,
    }
    assert len(images) == len(index) == 8
