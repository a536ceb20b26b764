"""objective_comparison: one node per objective (namespace ``objective_comparison.<objective>``)
training it with every comparison seed on the persisted embeddings and scoring it like ``evaluation`` does, then one
table. Not part of ``kedro run``: run it after the default job with
``kedro run --pipelines=objective_comparison``.
"""

from kedro.pipeline import Node, Pipeline

from cemap.joint.objectives import OBJECTIVES
from cemap.pipelines.objective_comparison.nodes import summarise_comparison, train_and_score

INPUTS = [
    "metadata",
    "images",
    "speech_features",
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
    "params:objective_comparison",
]


def create_pipeline(**kwargs) -> Pipeline:
    runs = [
        Node(
            train_and_score,
            [*INPUTS, f"params:objective_comparison.objectives.{objective}"],
            f"objective_comparison.{objective}.results",
            name="train_and_score",
            namespace=f"objective_comparison.{objective}",
            tags=["training"],
        )
        for objective in OBJECTIVES
    ]
    summary = Node(
        summarise_comparison,
        [
            "params:joint_latent",
            "params:objective_comparison",
            *(f"objective_comparison.{objective}.results" for objective in OBJECTIVES),
        ],
        [
            "objective_comparison_report",
            "objective_comparison_results",
            "objective_comparison_metrics",
        ],
        name="summarise_comparison",
        namespace="objective_comparison",
    )
    return Pipeline([*runs, summary])
