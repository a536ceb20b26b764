"""joint_latent: the paper's constrained embedding-space mapping over the three modalities."""

from cemap.pipelines.joint_latent.pipeline import create_pipeline

__all__ = ["create_pipeline"]
