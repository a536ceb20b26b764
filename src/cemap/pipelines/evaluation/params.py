"""Typed schema of ``params:evaluation``; Kedro validates it before any node runs."""

from __future__ import annotations

from pydantic import Field, field_validator

from cemap.concepts import MODALITIES
from cemap.joint.generation import DEFAULT_ROUTES, parse_routes
from cemap.pipelines.params import Device, StrictParams, TrainingBudget


class JudgeTraining(TrainingBudget):
    """Optimisation budget of one judge (scoring only)."""

    epochs: int = Field(8, ge=1)
    lr: float = Field(2e-3, gt=0)
    patience: int = Field(2, ge=1)


class EvaluationParams(StrictParams):
    """Judges (scoring only), how many prompts and samples, where things run."""

    seed: int = 0
    device: Device = "auto"
    progress: bool = True
    image_judge: JudgeTraining = JudgeTraining()
    speech_judge: JudgeTraining = JudgeTraining()
    retrieval_gallery: int = Field(1000, gt=1, description="gallery size for recall@k")
    diversity_prompts: int = Field(100, gt=0, description="prompts drawn several times each")
    n_samples: int = Field(4, gt=1, description="samples per prompt for diversity and grids")
    grid_prompts: int = Field(6, gt=0)
    n_example_wavs: int = Field(4, gt=0)
    routes: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ROUTES),
        description="directions generated through a third modality's data; {} = none",
    )

    @field_validator("routes")
    @classmethod
    def _routes(cls, routes: dict[str, str]) -> dict[str, str]:
        try:
            parse_routes(routes, MODALITIES)
        except ValueError as error:
            raise ValueError(f"evaluation.routes: {error}") from None
        return routes
