"""joint_latent: per-modality embeddings → constrained joint latent (proxy variables) → reports."""

from kedro.pipeline import Node, Pipeline

from cemap.pipelines.joint_latent.nodes import (
    adapt_speech_decoder,
    encode_latent_means,
    plot_prompt_grid,
    report_alignment,
    train_joint_model,
)

EMBEDDINGS = ["image.embeddings", "text.embeddings", "speech.embeddings"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_joint_model,
                ["metadata", *EMBEDDINGS, "params:joint_latent"],
                ["joint_model", "joint_history"],
                name="train_joint_model",
                tags=["training"],
            ),
            Node(
                adapt_speech_decoder,
                [
                    "joint_model",
                    "speech.autoencoder",
                    "speech_features",
                    "metadata",
                    *EMBEDDINGS,
                    "params:joint_latent",
                ],
                ["speech.generation_autoencoder", "speech_adaptation_history"],
                name="adapt_speech_decoder",
                tags=["training"],
            ),
            Node(
                encode_latent_means,
                ["joint_model", *EMBEDDINGS],
                ["image.latent_means", "text.latent_means", "speech.latent_means"],
                name="encode_latent_means",
            ),
            Node(
                report_alignment,
                ["joint_model", "metadata", *EMBEDDINGS, "params:joint_latent"],
                "joint_alignment_report",
                name="report_alignment",
            ),
            Node(
                plot_prompt_grid,
                [
                    "joint_model",
                    "image.autoencoder",
                    "metadata",
                    "text.embeddings",
                    "params:joint_latent",
                ],
                "joint_prompt_grid",
                name="plot_prompt_grid",
            ),
        ]
    )
