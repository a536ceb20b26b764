"""What every pipeline's typed parameter schema shares: strictness, devices, a training budget.

Each ``pipelines/<name>/params.py`` builds on these, so an unknown key is an error everywhere,
``device`` means the same in every pipeline, and every trainer's ``TrainConfig`` is made one way.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cemap.training import TrainConfig

#: Where a model trains: ``auto`` picks cuda, then mps, then cpu.
Device = Literal["auto", "cpu", "cuda", "mps"]


class StrictParams(BaseModel):
    """Frozen, and unknown keys are errors (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingBudget(StrictParams):
    """The optimisation budget of one trainer (defaults: ``cemap.training.TrainConfig``)."""

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(5, ge=1, description="epochs without a better validation loss")

    def train_config(
        self,
        name: str,
        *,
        device: str,
        seed: int,
        progress: bool,
        mixed_precision: bool = TrainConfig.mixed_precision,
    ) -> TrainConfig:
        """The ``cemap.training.fit`` settings: this budget plus where and how to run."""
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            device=device,
            seed=seed,
            mixed_precision=mixed_precision,
            progress=progress,
            name=name,
        )
