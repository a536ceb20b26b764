"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Pipelines `kedro run` leaves out: run them by name once the default job has run.
OPT_IN = ("objective_comparison",)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects; ``__default__`` is every
        pipeline but the opt-in ones (``OPT_IN``).
    """
    pipelines = find_pipelines(raise_errors=True)
    # `kedro run --pipelines=<name>` loads only the named pipelines: with only opt-in ones the
    # sum is over nothing, and must still be a (empty) Pipeline.
    pipelines["__default__"] = sum(
        (p for name, p in pipelines.items() if name not in OPT_IN), Pipeline([])
    )
    return pipelines
