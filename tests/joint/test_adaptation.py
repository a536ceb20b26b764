"""The speech decoder fine-tuned on the joint model's translations (cemap.joint.adaptation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cemap.joint import JointConfig, JointEmbeddingModel, joint_checkpoint
from cemap.joint.adaptation import adapt_checkpoint, adapt_decoder, translations
from cemap.models import (
    SpeechAutoencoder,
    SpeechAutoencoderConfig,
    load_autoencoder,
    save_autoencoder,
)
from cemap.pipelines.joint_latent.params import JointLatentParams
from cemap.speech.features import LogMelSpec
from cemap.training import TrainConfig, fit
from tests.embeddings.conftest import make_synthetic_data

SPEC = LogMelSpec(n_mels=64, n_frames=16)
SIZES = {"train": 256, "val": 64, "test": 16, "heldout_tuples": 4, "heldout_pairs": 4}
CONFIG = TrainConfig(epochs=8, batch_size=32, lr=3e-3, patience=8, device="cpu", progress=False)


@pytest.fixture(scope="module")
def setting():
    metadata, _, speech = make_synthetic_data(SIZES)
    torch.manual_seed(0)
    autoencoder = SpeechAutoencoder.from_training_data(
        SpeechAutoencoderConfig(spec=SPEC, channels=8, latent_dim=8), speech
    )
    x = autoencoder.inputs_from(speech)
    train, val = (x[(metadata["split"] == s).to_numpy()] for s in ("train", "val"))
    autoencoder = fit(autoencoder, (train,), (val,), CONFIG).model.eval()
    with torch.no_grad():
        codes = autoencoder.encode(x).numpy()
    rng = np.random.default_rng(0)
    embeddings = {  # text: a noisy view of what is said, as a paired modality is
        "text": (codes[:, :6] + rng.normal(scale=0.3, size=(len(codes), 6))).astype(np.float32),
        "speech": codes,
    }
    joint = JointEmbeddingModel(
        JointConfig(
            embedding_dims={"text": 6, "speech": 8},
            latent_dim=4,
            hidden_dim=16,
            pairs=[["text", "speech"]],
        )
    )
    joint.fit_normalizers(*(torch.from_numpy(embeddings[m]) for m in ("text", "speech")))
    return metadata, speech, autoencoder, embeddings, joint.eval()


def _val_loss(autoencoder, joint, embeddings, speech, splits, sources) -> float:
    rows = np.flatnonzero(splits == "val")
    generated, origin = translations(joint, embeddings, rows, sources, "speech")
    with torch.no_grad():
        batch = autoencoder.inputs_from(speech[origin.numpy()])
        return float(autoencoder.decoder_loss(generated, batch)["loss"])


def test_translations_stack_every_source_with_the_row_it_came_from(setting):
    metadata, _, _, embeddings, joint = setting
    rows = np.array([3, 5, 8])
    generated, origin = translations(joint, embeddings, rows, ["text", "speech"], "speech")
    assert generated.shape == (6, 8) and origin.tolist() == [3, 5, 8, 3, 5, 8]
    expected = joint.translate(embeddings["text"][rows], "text", "speech")
    torch.testing.assert_close(generated[:3], expected)


def test_adaptation_lowers_the_decoding_error_on_held_back_translations(setting):
    metadata, speech, autoencoder, embeddings, joint = setting
    splits = metadata["split"].to_numpy()
    sources = ["text", "speech"]
    before = _val_loss(autoencoder, joint, embeddings, speech, splits, sources)
    result = adapt_decoder(
        autoencoder, joint, embeddings, autoencoder.inputs_from(speech), splits, sources, CONFIG
    )
    adapted = result.model
    assert not adapted.training and len(result.history) >= 1
    after = _val_loss(adapted, joint, embeddings, speech, splits, sources)
    assert after < before
    # Only the decoder moved: the embeddings (and so the joint model) stay valid.
    for name, value in autoencoder.state_dict().items():
        assert torch.equal(adapted.state_dict()[name], value) != name.startswith("decoder.")
    assert all(p.requires_grad for p in adapted.parameters())
    assert all(p.requires_grad for p in autoencoder.parameters())  # the original untouched


def test_adaptation_is_deterministic_for_a_seed(setting):
    metadata, speech, autoencoder, embeddings, joint = setting
    splits = metadata["split"].to_numpy()
    runs = [
        adapt_checkpoint(
            joint_checkpoint(joint),
            save_autoencoder(autoencoder),
            speech,
            splits,
            embeddings,
            ["text"],
            CONFIG,
        )
        for _ in range(2)
    ]
    (first, history), (second, _) = runs
    assert history and all(
        torch.equal(first["state_dict"][k], v) for k, v in second["state_dict"].items()
    )
    assert isinstance(load_autoencoder(first), SpeechAutoencoder)


def test_no_sources_keep_the_decoder_as_trained(setting):
    metadata, speech, autoencoder, embeddings, joint = setting
    checkpoint = save_autoencoder(autoencoder)
    same, history = adapt_checkpoint(
        joint_checkpoint(joint),
        checkpoint,
        speech,
        metadata["split"].to_numpy(),
        embeddings,
        [],
        CONFIG,
    )
    assert same is checkpoint and history == []


def test_a_source_the_joint_model_lacks_is_refused(setting):
    metadata, speech, autoencoder, embeddings, joint = setting
    with pytest.raises(
        ValueError, match=r"\['image'\] must be a non-empty subset .*\['text', 'speech'\]"
    ):
        adapt_decoder(
            autoencoder,
            joint,
            embeddings,
            autoencoder.inputs_from(speech),
            metadata["split"].to_numpy(),
            ["image"],
            CONFIG,
        )


def test_adaptation_parameters_validate_and_share_the_joint_models_seed_and_device():
    params = JointLatentParams.model_validate(
        {"training": {"seed": 7, "device": "cpu"}, "decoder_adaptation": {"sources": ["text"]}}
    )
    config = params.adaptation_train_config()
    assert (config.seed, config.device, config.epochs) == (7, "cpu", 20)
    assert params.decoder_adaptation.sources == ["text"]
    with pytest.raises(ValueError, match="lists a modality twice"):
        JointLatentParams.model_validate({"decoder_adaptation": {"sources": ["text", "text"]}})
    with pytest.raises(ValueError, match="sources"):
        JointLatentParams.model_validate({"decoder_adaptation": {"sources": ["video"]}})
