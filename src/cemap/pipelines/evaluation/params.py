"""Typed schema of ``params:evaluation``; Kedro validates it before any node runs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from cemap.training import TrainConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JudgeTraining(_Strict):
    epochs: int = Field(8, gt=0)
    batch_size: int = Field(128, gt=0)
    lr: float = Field(2e-3, gt=0)
    patience: int = Field(2, gt=0)

    def train_config(self, name: str, device: str, seed: int, progress: bool) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            patience=self.patience,
            device=device,
            seed=seed,
            progress=progress,
            name=name,
        )


class EvaluationParams(_Strict):
    """Judges (scoring only), how many prompts and samples, where things run."""

    seed: int = 0
    device: str = "auto"
    progress: bool = True
    image_judge: JudgeTraining = JudgeTraining()
    speech_judge: JudgeTraining = JudgeTraining()
    retrieval_gallery: int = Field(1000, gt=1, description="gallery size for recall@k")
    diversity_prompts: int = Field(100, gt=0, description="prompts drawn several times each")
    n_samples: int = Field(4, gt=1, description="samples per prompt for diversity and grids")
    grid_prompts: int = Field(6, gt=0)
    n_example_wavs: int = Field(4, gt=0)
