"""embeddings pipeline: one unsupervised autoencoder per modality."""

from cemap.pipelines.embeddings.pipeline import create_pipeline

__all__ = ["create_pipeline"]
