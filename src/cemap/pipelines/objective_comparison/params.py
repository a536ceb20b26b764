"""Typed schema of ``params:objective_comparison``; Kedro validates it before the first comparison node."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from cemap.joint.objectives import OBJECTIVES
from cemap.pipelines.joint_latent.params import JointLatentParams, JointModelParams, TrainingParams
from cemap.pipelines.params import StrictParams

_KEY = "objective_comparison"


class ObjectiveComparisonParams(StrictParams):
    """Which seeds every objective trains with, and what differs from ``joint_latent``.

    ``objectives`` maps each objective to its overrides of ``joint_latent.model``, which name
    the objective itself (``{objective: mvae}``: the tuned defaults otherwise); ``training`` overrides ``joint_latent.training`` for every run alike (the
    budget, e.g. ``{epochs: 10}`` for a quick comparison).
    """

    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    training: dict[str, Any] = Field(default_factory=dict)
    objectives: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {name: {"objective": name} for name in OBJECTIVES}
    )

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"{_KEY}.seeds={seeds} repeats a seed; list each seed once.")
        return seeds

    @field_validator("training")
    @classmethod
    def _training_keys(cls, training: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(training) - set(TrainingParams.model_fields))
        if unknown:
            raise ValueError(
                f"{_KEY}.training has {unknown}, which joint_latent.training does not; use "
                f"some of {sorted(TrainingParams.model_fields)}."
            )
        return training

    @field_validator("objectives")
    @classmethod
    def _every_objective(cls, objectives: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if set(objectives) != set(OBJECTIVES):
            raise ValueError(
                f"{_KEY}.objectives has {sorted(objectives)}; it needs one entry (overrides of "
                f"joint_latent.model, {{}} for none) for each of {sorted(OBJECTIVES)}."
            )
        for name, overrides in objectives.items():
            unknown = sorted(set(overrides) - set(JointModelParams.model_fields))
            if unknown:
                raise ValueError(
                    f"{_KEY}.objectives.{name} has {unknown}, which joint_latent.model does not; "
                    f"use some of {sorted(JointModelParams.model_fields)}."
                )
            if overrides.get("objective") != name:
                raise ValueError(
                    f"{_KEY}.objectives.{name} has objective={overrides.get('objective')!r}; "
                    f"each entry names its own objective: {name}: {{objective: {name}, ...}}."
                )
        return objectives

    def run_params(self, base: JointLatentParams, objective: str, seed: int) -> JointLatentParams:
        """``base`` with this objective, its overrides, the training overrides and ``seed``;
        validated by the ``joint_latent`` schema, so a bad override names its key."""
        settings = base.model_dump()
        settings["model"].update(self.objectives[objective])
        settings["training"].update({**self.training, "seed": seed})
        return JointLatentParams.model_validate(settings)
