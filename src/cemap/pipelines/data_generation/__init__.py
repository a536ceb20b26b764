"""data_generation pipeline."""

from cemap.pipelines.data_generation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
