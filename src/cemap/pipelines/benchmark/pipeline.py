"""benchmark: one node per objective (namespace ``benchmark.<objective>``) training it with every
benchmark seed on the persisted embeddings and scoring it like ``evaluation`` does, then one
table. Not part of ``kedro run``: run it after the default job with
``kedro run --pipelines=benchmark``.
"""

from kedro.pipeline import Node, Pipeline

from cemap.joint.objectives import OBJECTIVES
from cemap.pipelines.benchmark.nodes import summarise_benchmark, train_and_score

INPUTS = [
    "metadata",
    "images",
    "image.embeddings",
    "text.embeddings",
    "speech.embeddings",
    "image.autoencoder",
    "text.autoencoder",
    "speech.autoencoder",
    "image_judge",
    "speech_judge",
    "params:joint_latent",
    "params:evaluation",
    "params:benchmark",
]


def create_pipeline(**kwargs) -> Pipeline:
    runs = [
        Node(
            train_and_score,
            [*INPUTS, f"params:benchmark.objectives.{objective}"],
            f"benchmark.{objective}.results",
            name="train_and_score",
            namespace=f"benchmark.{objective}",
            tags=["training"],
        )
        for objective in OBJECTIVES
    ]
    summary = Node(
        summarise_benchmark,
        [
            "params:joint_latent",
            "params:benchmark",
            *(f"benchmark.{objective}.results" for objective in OBJECTIVES),
        ],
        ["benchmark_report", "benchmark_results", "benchmark_metrics"],
        name="summarise_benchmark",
        namespace="benchmark",
    )
    return Pipeline([*runs, summary])
