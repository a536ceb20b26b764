"""Typed schema of ``params:joint_latent``; Kedro validates it before any node runs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, field_validator

from cemap.concepts import MODALITIES
from cemap.joint.model import DEFAULT_ENCODER_HIDDEN_DIMS, DEFAULT_FOLLOWERS, DEFAULT_PAIRS
from cemap.pipelines.params import Device, StrictParams, TrainingBudget
from cemap.training import TrainConfig

_KEY = "joint_latent"


class JointModelParams(StrictParams):
    """Fields of ``cemap.joint.JointConfig`` (the embedding widths come from the data)."""

    latent_dim: int = Field(128, ge=1)
    hidden_dim: int = Field(256, ge=1)
    encoder_hidden_dims: dict[Literal["image", "text", "speech"], PositiveInt] = Field(
        default_factory=lambda: dict(DEFAULT_ENCODER_HIDDEN_DIMS),
        description="hidden width of these modalities' encoders; the others use hidden_dim",
    )
    objective: Literal["proxy_variable", "jmvae_kl", "mvae", "mmvae", "regression"] = (
        "proxy_variable"
    )
    beta: float = Field(0.5, ge=0)
    alpha: float = Field(1.0, ge=0)
    gamma: float = Field(1.0, ge=0)
    distance: Literal["kl", "symmetric_kl", "wasserstein2", "mmd"] = "symmetric_kl"
    constraint: Literal["penalty", "lagrangian"] = "penalty"
    pairs: list[tuple[str, str]] = Field(default_factory=lambda: [tuple(p) for p in DEFAULT_PAIRS])
    constraint_followers: list[Literal["image", "text", "speech"]] = Field(
        default_factory=lambda: list(DEFAULT_FOLLOWERS),
        description="proxy_variable: in a pair with one of these, D moves only its posterior",
    )
    epsilon: float = Field(0.5, ge=0)
    multiplier_init: float = Field(1.0, ge=0)
    dual_lr: float = Field(0.01, ge=0)
    mmd_kernel: Literal["rbf", "imq"] = "imq"
    mmd_samples: int = Field(8, ge=2)

    @field_validator("pairs")
    @classmethod
    def _pairs(cls, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for m, n in pairs:
            if m not in MODALITIES or n not in MODALITIES or m == n:
                raise ValueError(
                    f"{_KEY}.model.pairs contains [{m}, {n}]: each pair names two different "
                    f"modalities out of {list(MODALITIES)}, e.g. [image, text]."
                )
        if len({frozenset(p) for p in pairs}) != len(pairs):
            raise ValueError(f"{_KEY}.model.pairs={pairs} lists a pair twice.")
        return pairs


class TrainingParams(TrainingBudget):
    """The joint model's budget, and where and how it trains (``cemap.training.TrainConfig``)."""

    epochs: int = Field(40, ge=1)
    device: Device = "auto"
    seed: int = 0
    mixed_precision: bool = True
    progress: bool = True

    def joint_train_config(self) -> TrainConfig:
        return self.train_config(
            "joint",
            device=self.device,
            seed=self.seed,
            progress=self.progress,
            mixed_precision=self.mixed_precision,
        )


class AdaptationTraining(TrainingBudget):
    epochs: int = Field(20, ge=1)


class DecoderAdaptationParams(StrictParams):
    """The speech decoder fine-tuned on the joint model's translations (``cemap.joint.adaptation``)."""

    sources: list[Literal["image", "text", "speech"]] = Field(
        default_factory=lambda: ["text", "speech"],
        description="translations into speech from these modalities; [] = the decoder as trained",
    )
    training: AdaptationTraining = AdaptationTraining()

    @field_validator("sources")
    @classmethod
    def _once_each(cls, sources: list[str]) -> list[str]:
        if len(set(sources)) != len(sources):
            raise ValueError(f"{_KEY}.decoder_adaptation.sources={sources} lists a modality twice.")
        return sources


class ReportParams(StrictParams):
    probe_max_train: int = Field(3000, ge=10)  # training rows of each linear probe (subsampled)
    n_prompts: int = Field(6, ge=1)  # rows of the prompt grid: test sentences
    n_samples: int = Field(5, ge=1)  # images drawn from q_text per prompt, next to the mean


class JointLatentParams(StrictParams):
    model: JointModelParams = JointModelParams()
    training: TrainingParams = TrainingParams()
    decoder_adaptation: DecoderAdaptationParams = DecoderAdaptationParams()
    report: ReportParams = ReportParams()

    def adaptation_train_config(self) -> TrainConfig:
        """``fit`` settings of the decoder adaptation: its budget, the joint model's device and seed."""
        return self.decoder_adaptation.training.train_config(
            "speech decoder adaptation",
            device=self.training.device,
            seed=self.training.seed,
            progress=self.training.progress,
            mixed_precision=self.training.mixed_precision,
        )
