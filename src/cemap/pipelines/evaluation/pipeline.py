"""evaluation: judges trained for scoring, then coherence, alignment, quality, figures, report."""

from kedro.pipeline import Node, Pipeline

from cemap.pipelines.evaluation.nodes import (
    PROMPT_GRID_SPLITS,
    REPORT_FIGURES,
    build_cross_modal_image_model,
    collect_metrics,
    export_image_to_speech_examples,
    generate_images_for_evaluation,
    judge_real_data,
    measure_alignment,
    measure_ladder,
    measure_quality,
    plot_latents_and_curves,
    score_coherence,
    train_image_judge_node,
    train_speech_judge_node,
)

P = "params:evaluation"


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_image_judge_node,
                ["images", "metadata", P],
                ["image_judge", "image_judge_history"],
                name="train_image_judge",
                tags=["training"],
            ),
            Node(
                train_speech_judge_node,
                ["speech_features", "metadata", P],
                ["speech_judge", "speech_judge_history"],
                name="train_speech_judge",
                tags=["training"],
            ),
            Node(
                judge_real_data,
                ["image_judge", "speech_judge", "images", "speech_features", "metadata"],
                "judge_metrics",
                name="judge_real_data",
            ),
            Node(
                generate_images_for_evaluation,
                [
                    "joint_model",
                    "image.autoencoder",
                    "text.embeddings",
                    "speech.embeddings",
                    "metadata",
                    P,
                ],
                ["generated_images", "generated_images_index"],
                name="generate_images_for_evaluation",
            ),
            Node(
                score_coherence,
                [
                    "generated_images",
                    "generated_images_index",
                    "image_judge",
                    "speech_judge",
                    "joint_model",
                    "text.autoencoder",
                    "speech.generation_autoencoder",
                    "image.embeddings",
                    "text.embeddings",
                    "speech.embeddings",
                    "metadata",
                    P,
                ],
                ["coherence_metrics", "confusion_text_to_image"],
                name="score_coherence",
            ),
            Node(
                measure_ladder,
                [
                    "joint_model",
                    "image.autoencoder",
                    "text.autoencoder",
                    "speech.generation_autoencoder",
                    "image_judge",
                    "speech_judge",
                    "images",
                    "speech_features",
                    "image.embeddings",
                    "text.embeddings",
                    "speech.embeddings",
                    "metadata",
                    "coherence_metrics",
                    P,
                ],
                ["ladder_metrics", "ladder_figure"],
                name="measure_ladder",
            ),
            Node(
                measure_alignment,
                [
                    "joint_model",
                    "image.embeddings",
                    "text.embeddings",
                    "speech.embeddings",
                    "image.latent_means",
                    "text.latent_means",
                    "speech.latent_means",
                    "metadata",
                    P,
                ],
                "alignment_metrics",
                name="measure_alignment",
            ),
            Node(
                measure_quality,
                [
                    "generated_images",
                    "generated_images_index",
                    "images",
                    "image_judge",
                    "joint_model",
                    "image.autoencoder",
                    "text.embeddings",
                    "metadata",
                    P,
                ],
                ["quality_metrics", *(f"prompt_grid_{split}" for split in PROMPT_GRID_SPLITS)],
                name="measure_quality",
            ),
            Node(
                plot_latents_and_curves,
                [
                    "image.latent_means",
                    "text.latent_means",
                    "speech.latent_means",
                    "metadata",
                    "image.training_history",
                    "text.training_history",
                    "speech.training_history",
                    "joint_history",
                    "image_judge_history",
                    "speech_judge_history",
                ],
                ["latent_projection", "loss_curves", "training_curves"],
                name="plot_latents_and_curves",
            ),
            Node(
                export_image_to_speech_examples,
                [
                    "joint_model",
                    "text.autoencoder",
                    "speech.generation_autoencoder",
                    "image.embeddings",
                    "metadata",
                    P,
                ],
                "image_to_speech_examples",
                name="export_image_to_speech_examples",
            ),
            Node(
                build_cross_modal_image_model,
                [
                    "joint_model",
                    "image.autoencoder",
                    "text.autoencoder",
                    "speech.generation_autoencoder",
                ],
                "cross_modal_image_model",
                name="build_cross_modal_image_model",
            ),
            Node(
                collect_metrics,
                [
                    "judge_metrics",
                    "coherence_metrics",
                    "alignment_metrics",
                    "quality_metrics",
                    "ladder_metrics",
                    "run_info",  # filled by cemap.hooks.MlflowRunHook before the run
                    *REPORT_FIGURES,
                ],
                ["evaluation_metrics", "mlflow_metrics", "report_markdown", "report_html"],
                name="collect_metrics",
            ),
        ]
    )
