"""objective_comparison: the proxy-variable objective against the reference objectives, same budget."""

from cemap.pipelines.objective_comparison.pipeline import create_pipeline

__all__ = ["create_pipeline"]
