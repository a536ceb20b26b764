"""benchmark: the proxy-variable objective against the reference objectives, same budget."""

from cemap.pipelines.benchmark.pipeline import create_pipeline

__all__ = ["create_pipeline"]
