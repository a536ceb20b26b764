"""Judges: label encoding, shapes, persistence, learning a separable toy problem through fit."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from cemap.concepts import ATTRIBUTES
from cemap.data.images import DEFAULT_PALETTE
from cemap.data.sentences import TEMPLATES, DigitPair, describe
from cemap.evaluation.judges import (
    ImageJudge,
    ImageJudgeConfig,
    SpeechJudge,
    SpeechJudgeConfig,
    load_judge,
    save_judge,
    train_image_judge,
    train_speech_judge,
)
from cemap.evaluation.labels import attribute_class_names, decode_attributes, encode_attributes
from cemap.evaluation.text_judge import TextJudge
from cemap.training import TrainConfig

COLORS = list(DEFAULT_PALETTE)


def random_labels(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.integers(0, 10, n),
            rng.integers(0, 6, n),
            rng.integers(0, 10, n),
            rng.integers(0, 6, n),
        ]
    ).astype(np.int64)


def test_encode_and_decode_attributes_round_trip():
    metadata = pd.DataFrame(
        {
            "split": ["train", "test"],
            "digit_left": [3, 9],
            "color_left": ["red", "cyan"],
            "digit_right": [0, 7],
            "color_right": ["blue", "red"],
            "text": ["", ""],
        }
    )
    codes = encode_attributes(metadata, DEFAULT_PALETTE)
    assert codes.dtype == np.int64
    assert codes.tolist() == [[3, 0, 0, 2], [9, 5, 7, 0]]
    assert decode_attributes(codes, COLORS).equals(
        metadata[list(ATTRIBUTES)].astype({"digit_left": "Int64", "digit_right": "Int64"})
    )
    pairs = [DigitPair(1, "green", 2, "yellow")]
    assert encode_attributes(pairs, COLORS).tolist() == [[1, 1, 2, 3]]
    unknown = decode_attributes(np.array([[-1, -1, 4, 1]]), COLORS).iloc[0]
    assert pd.isna(unknown["digit_left"]) and unknown["color_left"] is None
    assert unknown["color_right"] == "green"


def test_encode_attributes_names_an_unknown_colour():
    metadata = pd.DataFrame([DigitPair(1, "teal", 2, "red")])
    with pytest.raises(ValueError, match="teal"):
        encode_attributes(metadata, COLORS)


def test_attribute_class_names_follow_attribute_order():
    names = attribute_class_names(COLORS)
    assert [len(n) for n in names] == [10, 6, 10, 6]
    assert names[1] == COLORS


def test_text_judge_parses_every_template():
    judge = TextJudge(COLORS)
    pairs = [
        DigitPair(d1, c1, d2, c2)
        for d1, c1, d2, c2 in [(0, "red", 9, "cyan"), (7, "blue", 7, "blue")]
    ]
    texts = [describe(p, t) for p in pairs for t in range(len(TEMPLATES))]
    expected = np.repeat(encode_attributes(pairs, COLORS), len(TEMPLATES), axis=0)
    np.testing.assert_array_equal(judge.predict(texts), expected)


def test_text_judge_marks_what_it_cannot_read():
    strict = TextJudge(COLORS)
    lenient = TextJudge(COLORS, require_template=False)
    texts = ["red three and blue", "gibberish", "red three and blue five five"]
    assert (strict.predict(texts) == -1).all()
    np.testing.assert_array_equal(
        lenient.predict(texts), [[3, 0, -1, -1], [-1, -1, -1, -1], [3, 0, 5, 2]]
    )


def small_image_config() -> ImageJudgeConfig:
    return ImageJudgeConfig(colors=COLORS, channels=4, feature_dim=16, color_dim=16)


def small_speech_config() -> SpeechJudgeConfig:
    return SpeechJudgeConfig(colors=COLORS, channels=8, hidden=8)


def test_image_judge_shapes_and_backward():
    judge = ImageJudge(small_image_config())
    x = torch.rand(5, 3, 28, 56, requires_grad=True)
    y = torch.from_numpy(random_labels(5, 0))
    terms = judge.loss(x, y)
    assert {"loss", "accuracy/strict", *(f"accuracy/{a}" for a in ATTRIBUTES)} <= set(terms)
    terms["loss"].backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert all(p.grad is not None for p in judge.parameters())
    judge.eval()
    assert judge.predict(x).shape == (5, 4) and judge.predict(x).dtype == torch.int64
    assert judge.features(x).shape == (5, 2 * (16 + 16))


def test_speech_judge_shapes_and_backward():
    features = np.random.default_rng(0).normal(size=(6, 16, 40)).astype(np.float32)
    judge = SpeechJudge.from_training_data(small_speech_config(), features)
    assert judge.config.n_mels == 16 and judge.config.n_frames == 40
    x = judge.inputs_from(features)
    terms = judge.loss(x, torch.from_numpy(random_labels(6, 1)))
    terms["loss"].backward()
    assert all(p.grad is not None for p in judge.parameters())
    assert judge.predict_array(features).shape == (6, 4)
    assert judge.features_array(features).shape == (6, 16)


def test_judges_reject_labels_outside_the_palette():
    images = np.zeros((4, 28, 56, 3), np.uint8)
    labels = random_labels(4, 2)
    labels[0, 1] = 6
    with pytest.raises(ValueError, match="colour indices in 0..5"):
        train_image_judge(images, labels, images, random_labels(4, 3), TrainConfig(progress=False))


def test_judge_checkpoints_reload_without_training_code(tmp_path):
    features = np.random.default_rng(1).normal(size=(4, 16, 24)).astype(np.float32)
    images = np.random.default_rng(2).integers(0, 256, (4, 28, 56, 3), dtype=np.uint8)
    for judge, data in [
        (ImageJudge.from_training_data(small_image_config(), images), images),
        (SpeechJudge.from_training_data(small_speech_config(), features), features),
    ]:
        torch.save(save_judge(judge), tmp_path / "judge.pt")
        loaded = load_judge(torch.load(tmp_path / "judge.pt", weights_only=True))
        assert type(loaded) is type(judge) and loaded.colors == COLORS
        np.testing.assert_array_equal(loaded.features_array(data), judge.features_array(data))
    with pytest.raises(ValueError, match="not a judge"):
        load_judge({"kind": "image_vae", "format": 1})


def toy_images(labels: np.ndarray, seed: int) -> np.ndarray:
    """Each side: a 4×4 square whose position encodes the digit, tinted by the colour, plus noise."""
    rng = np.random.default_rng(seed)
    palette = np.array(list(DEFAULT_PALETTE.values()), dtype=np.float64)
    images = rng.uniform(0, 20, (len(labels), 28, 56, 3))
    for i, (d1, c1, d2, c2) in enumerate(labels):
        for side, (digit, color) in enumerate([(d1, c1), (d2, c2)]):
            row, col = 4 + 10 * (digit // 5), 2 + 5 * (digit % 5) + 28 * side
            images[i, row : row + 4, col : col + 4] = palette[color]
    return images.clip(0, 255).astype(np.uint8)


def toy_speech(labels: np.ndarray, seed: int) -> np.ndarray:
    """Log-mel (N, 16, 32): attribute j lights mel bin (its value) in time slot j."""
    rng = np.random.default_rng(seed)
    features = rng.normal(0, 0.3, (len(labels), 16, 32)).astype(np.float32)
    for i, row in enumerate(labels):
        for j, value in enumerate(row):
            features[i, value, 8 * j : 8 * j + 8] += 3.0
    return features


def toy_labels(n: int, seed: int) -> np.ndarray:
    return random_labels(n, seed)


def test_image_judge_learns_a_separable_toy_problem_through_fit():
    train, val = toy_labels(600, 10), toy_labels(200, 11)
    config = TrainConfig(epochs=12, batch_size=32, lr=3e-3, progress=False, name="image_judge")
    judge, history = train_image_judge(
        toy_images(train, 0), train, toy_images(val, 1), val, config, small_image_config()
    )
    assert history and "val/accuracy/strict" in history[-1]
    pred = judge.predict_array(toy_images(val, 1))
    assert (pred == val).mean(axis=0).min() >= 0.95


def test_speech_judge_learns_a_separable_toy_problem_through_fit():
    train, val = toy_labels(600, 20), toy_labels(200, 21)
    config = TrainConfig(epochs=25, batch_size=32, lr=5e-3, progress=False, name="speech_judge")
    judge, history = train_speech_judge(
        toy_speech(train, 0),
        train,
        toy_speech(val, 1),
        val,
        config,
        SpeechJudgeConfig(colors=COLORS, channels=16, hidden=16),
    )
    assert len(history) >= 1
    pred = judge.predict_array(toy_speech(val, 1))
    assert (pred == val).mean(axis=0).min() >= 0.95


def test_every_combination_encodes_uniquely():
    pairs = [DigitPair(*t) for t in itertools.product(range(10), COLORS[:2], range(10), COLORS[:2])]
    codes = encode_attributes(pairs, COLORS)
    assert len({tuple(c) for c in codes}) == len(pairs)
