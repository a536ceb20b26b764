"""embeddings pipeline: one unsupervised autoencoder per modality, from one template.

Each modality gets the same nodes under its namespace (``image.*``, ``text.*``, ``speech.*``):
train -> checkpoint, history and the embedding of every sample (one node: the embeddings come
from the model it just trained, so the checkpoint in the ``models`` layer never feeds the
``model_input`` embeddings through the catalog — kedro-viz's layers would cycle through the joint
model), then test reconstruction metrics, linear probes of the test embeddings (labels judge,
never train) and a reconstruction figure. Only the training node differs per modality (which
model to build); speech adds Griffin-Lim audio examples.
"""

from __future__ import annotations

from collections.abc import Callable

from kedro.pipeline import Node, Pipeline

from cemap.pipelines.embeddings.nodes import (
    measure_reconstruction,
    plot_reconstructions,
    probe_embeddings,
    render_speech_examples,
    train_image_autoencoder,
    train_speech_autoencoder,
    train_text_autoencoder,
    trained_with_embeddings,
)

# modality -> (its raw data set in the catalog, the node that trains its autoencoder, what
# else that node reads: speech trains with the spec its features were computed with)
_MODALITIES: dict[str, tuple[str, Callable, list[str]]] = {
    "image": ("images", train_image_autoencoder, []),
    "text": ("metadata", train_text_autoencoder, []),
    "speech": ("speech_features", train_speech_autoencoder, ["speech_spec"]),
}


def _autoencoder_pipeline(modality: str) -> Pipeline:
    samples, train, extra = _MODALITIES[modality]
    template = Pipeline(
        [
            Node(
                trained_with_embeddings(train),
                ["samples", *extra, "metadata", "params:embeddings"],
                ["autoencoder", "training_history", "embeddings"],
                name="train_autoencoder",
                tags=["training"],
            ),
            Node(
                measure_reconstruction,
                ["autoencoder", "samples", "metadata", "params:embeddings"],
                "reconstruction_metrics",
                name="measure_reconstruction",
            ),
            Node(
                probe_embeddings,
                ["embeddings", "metadata", "params:embeddings"],
                "probe_metrics",
                name="probe_embeddings",
            ),
            Node(
                plot_reconstructions,
                ["autoencoder", "samples", "metadata", "params:embeddings"],
                "reconstruction_figure",
                name="plot_reconstructions",
            ),
        ]
    )
    return Pipeline(
        template,
        namespace=modality,
        inputs={"samples": samples, "metadata": "metadata", **{name: name for name in extra}},
        parameters={"params:embeddings"},
    )


def create_pipeline(**kwargs) -> Pipeline:
    speech_audio = Pipeline(
        [
            Node(
                render_speech_examples,
                ["speech.autoencoder", "speech_features", "metadata", "params:embeddings"],
                "speech.reconstruction_audio",
                name="render_speech_examples",
                namespace="speech",
            )
        ]
    )
    return sum((_autoencoder_pipeline(m) for m in _MODALITIES), Pipeline([])) + speech_audio
