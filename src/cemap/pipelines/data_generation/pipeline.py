"""data_generation: MNIST digits → double-digit images, sentences, spoken sentences, splits."""

from kedro.pipeline import Node, Pipeline

from cemap.pipelines.data_generation.nodes import (
    compose_images,
    export_examples,
    load_source_digits,
    plan_dataset,
    synthesize_speech,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                load_source_digits,
                "params:data_generation",
                "source_digits",
                name="load_source_digits",
            ),
            Node(
                plan_dataset,
                ["source_digits", "params:data_generation"],
                "metadata",
                name="plan_dataset",
            ),
            Node(
                compose_images,
                ["metadata", "source_digits", "params:data_generation"],
                "images",
                name="compose_images",
            ),
            Node(
                synthesize_speech,
                ["metadata", "params:data_generation"],
                ["speech_features", "speech_spec"],
                name="synthesize_speech",
            ),
            Node(
                export_examples,
                ["metadata", "images", "params:data_generation"],
                ["data_generation_example_images", "data_generation_example_speech"],
                name="export_examples",
            ),
        ]
    )
