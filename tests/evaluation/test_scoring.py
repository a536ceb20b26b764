"""Which splits scoring covers: the evaluation splits the data has, in their order."""

import pandas as pd

from cemap.evaluation.scoring import evaluation_splits


def test_scoring_covers_the_evaluation_splits_present_in_metadata_in_order():
    metadata = pd.DataFrame({"split": ["heldout_pairs", "train", "test", "val", "heldout_pairs"]})
    assert evaluation_splits(metadata) == ("test", "heldout_pairs")
    full = pd.DataFrame({"split": ["heldout_pairs", "heldout_tuples", "test", "train"]})
    assert evaluation_splits(full) == ("test", "heldout_tuples", "heldout_pairs")
