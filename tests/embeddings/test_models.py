"""The three modality autoencoders: shapes, gradients, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cemap.checkpoint_dataset import TorchCheckpointDataset
from cemap.models import (
    ImageVAE,
    ImageVAEConfig,
    SpeechAutoencoder,
    SpeechAutoencoderConfig,
    TextAutoencoder,
    TextAutoencoderConfig,
    Vocabulary,
    autoencoder_path,
    load_autoencoder,
    load_trained_autoencoder,
    save_autoencoder,
)
from cemap.models.speech_autoencoder import unstretch_time
from cemap.speech.augmentation import LogMelAugmentation
from cemap.speech.features import LogMelSpec
from cemap.training import TrainConfig, fit
from tests.embeddings.conftest import SILENCE

SPEC = LogMelSpec(n_mels=64, n_frames=16)  # the synthetic features


def _models(synthetic_data):
    metadata, images, speech = synthetic_data
    torch.manual_seed(0)
    return {
        "image": (
            ImageVAE.from_training_data(ImageVAEConfig(channels=4, latent_dim=8), images),
            images,
        ),
        "text": (
            TextAutoencoder.from_training_data(
                TextAutoencoderConfig(embedding_dim=8, word_dim=8, hidden_dim=16),
                metadata["text"].tolist(),
            ),
            metadata["text"].tolist(),
        ),
        "speech": (
            SpeechAutoencoder.from_training_data(
                SpeechAutoencoderConfig(spec=SPEC, channels=8, latent_dim=8, speaker_dim=4),
                speech,
            ),
            speech,
        ),
    }


@pytest.mark.parametrize("modality", ["image", "text", "speech"])
def test_shapes_and_gradients(synthetic_data, modality):
    model, raw = _models(synthetic_data)[modality]
    x = model.inputs_from(raw[:5])
    z = model.encode(x)
    assert z.shape == (5, 8) and z.dtype == torch.float32
    model.train()
    terms = model.loss(x)
    terms["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    with torch.no_grad():
        x_hat = model.reconstruct(x)
    assert x_hat.shape == x.shape
    metrics = model.reconstruction_metrics(x, x_hat)
    assert metrics and all(np.isfinite(v) for v in metrics.values())


def test_image_vae_outputs_are_images(synthetic_data):
    model, images = _models(synthetic_data)["image"]
    x = model.inputs_from(images[:3])
    assert x.shape == (3, 3, 28, 56) and x.min() >= 0 and x.max() <= 1
    assert np.array_equal(model.images_from(x), images[:3])
    decoded = model.decode(torch.randn(3, 8))
    assert decoded.shape == (3, 3, 28, 56) and decoded.min() >= 0 and decoded.max() <= 1
    assert set(model.loss(x)) == {"loss", "reconstruction", "kl"}


def test_vocabulary_round_trip():
    vocabulary = Vocabulary.from_sentences(["red three and blue seven", "a green zero"])
    assert vocabulary.tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    ids = vocabulary.ids("a red zero")
    assert vocabulary.sentence(ids) == "a red zero"
    assert vocabulary.sentence(vocabulary.ids("a purple zero")) == "a <unk> zero"
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary(["red", "blue"])


def test_text_autoencoder_layout_and_learning(synthetic_data):
    metadata, _, _ = synthetic_data
    sentences = metadata["text"].tolist()
    torch.manual_seed(0)
    model = TextAutoencoder.from_training_data(
        TextAutoencoderConfig(embedding_dim=16, word_dim=8, hidden_dim=32), sentences
    )
    ids = model.inputs_from(sentences)
    assert ids.shape == (len(sentences), max(len(s.split()) for s in sentences) + 2)
    assert model.sentences_from(ids) == sentences
    before = model.reconstruction_metrics(ids, model.reconstruct(ids))["token_accuracy"]
    config = TrainConfig(
        epochs=30, batch_size=16, lr=1e-2, patience=30, device="cpu", progress=False
    )
    fit(model, (ids[:64],), (ids[64:],), config)
    after = model.reconstruction_metrics(ids, model.reconstruct(ids))["token_accuracy"]
    assert before < 0.2 and after > 0.6


def test_speech_duration_normalisation(synthetic_data):
    _, _, speech = synthetic_data
    model = SpeechAutoencoder.from_training_data(
        SpeechAutoencoderConfig(spec=SPEC, channels=8), speech
    )
    x = model.inputs_from(speech)
    lengths = model.voiced_frames(x)
    expected = [(row.max(axis=0) > SILENCE + 5).nonzero()[0].max() + 1 for row in speech]
    assert lengths.tolist() == expected
    content = model.content(x)
    assert content.shape == (len(x), 64, model.config.content_frames)
    standardised = (content - model.mean) / model.std
    assert standardised.mean().abs() < 1e-4 and (standardised.std() - 1).abs() < 0.05
    # Stretching and stretching back keeps the clip and its trailing silence.
    back = unstretch_time(content, lengths, x.shape[2], model.silence)
    assert (back - x).pow(2).mean() < 0.1 * x.var()
    assert torch.equal(model.voiced_frames(back), lengths)
    # The last embedding dimension carries the duration through to the decoder.
    z = model.encode(x)
    assert torch.allclose(z[:, -1], torch.log(lengths / x.shape[2]))
    assert torch.equal(model.voiced_frames(model.decode(z)), lengths)


def test_speech_statistics_do_not_depend_on_the_chunking(synthetic_data, monkeypatch):
    _, _, speech = synthetic_data
    config = SpeechAutoencoderConfig(spec=SPEC, channels=8)
    whole = SpeechAutoencoder.from_training_data(config, speech)
    monkeypatch.setattr("cemap.models.speech_autoencoder._STATISTICS_CHUNK", 7)
    chunked = SpeechAutoencoder.from_training_data(config, speech)
    content = whole.content(whole.inputs_from(speech))
    torch.testing.assert_close(chunked.mean, content.mean(dim=(0, 2))[:, None])
    torch.testing.assert_close(chunked.std, content.std(dim=(0, 2)).clamp_min(1e-3)[:, None])
    torch.testing.assert_close(whole.std, chunked.std)


def test_speech_waveform(synthetic_data):
    _, _, speech = synthetic_data
    model = SpeechAutoencoder.from_training_data(
        SpeechAutoencoderConfig(spec=SPEC, channels=8), speech
    )
    x = model.inputs_from(speech[:2])
    audio = model.to_waveform(x, n_iter=2)
    hop = model.config.spec.hop_length
    assert audio.shape == (2, hop * (speech.shape[2] - 1))
    assert torch.isfinite(audio).all() and audio.abs().max() <= 1
    assert SPEC.to_waveform(x[0], n_iter=2).shape == (hop * (speech.shape[2] - 1),)


def test_speech_code_noise_only_while_training(synthetic_data):
    _, _, speech = synthetic_data
    x = SpeechAutoencoder.inputs_from(speech[:16])
    torch.manual_seed(0)
    clean = SpeechAutoencoder.from_training_data(
        SpeechAutoencoderConfig(spec=SPEC, channels=8, latent_dim=8), speech
    )
    noisy = SpeechAutoencoder.from_training_data(
        SpeechAutoencoderConfig(spec=SPEC, channels=8, latent_dim=8, noise_std=1.0), speech
    )
    noisy.load_state_dict(clean.state_dict())
    clean.train()
    noisy.train()
    assert clean.loss(x)["loss"] == clean.loss(x)["loss"]  # no noise at 0: deterministic
    assert noisy.loss(x)["loss"] != noisy.loss(x)["loss"]
    clean.eval()
    noisy.eval()
    assert torch.equal(noisy.loss(x)["loss"], clean.loss(x)["loss"])  # none when evaluating
    assert torch.equal(noisy.encode(x), clean.encode(x))


ROBUST = LogMelAugmentation(warp=(0.85, 1.15), gain_db=6, snr_db=(10, 30), freq_masks=1)


def test_utterance_norm_makes_the_code_blind_to_a_clip_wide_spectral_tilt(synthetic_data):
    _, _, speech = synthetic_data
    torch.manual_seed(0)
    config = SpeechAutoencoderConfig(spec=SPEC, channels=8, latent_dim=8, utterance_norm=True)
    model = SpeechAutoencoder.from_training_data(config, speech).eval()
    x = model.inputs_from(speech[:8])
    tilt = torch.linspace(-0.5, 0.5, x.shape[1])[None, :, None]  # another voice's envelope
    with torch.no_grad():
        torch.testing.assert_close(model.encode(x + tilt), model.encode(x), atol=1e-4, rtol=0)
    plain = SpeechAutoencoder.from_training_data(
        SpeechAutoencoderConfig(spec=SPEC, channels=8, latent_dim=8), speech
    ).eval()
    with torch.no_grad():
        assert not torch.allclose(plain.encode(x + tilt), plain.encode(x), atol=1e-3)
    # It speaks with the training set's average voice, learnt from the data.
    assert model.voice.abs().max() > 1 and torch.equal(plain.voice, torch.zeros_like(plain.voice))
    assert model.decode(model.encode(x)).shape == x.shape


def test_speech_augmentation_and_invariance_only_while_training(synthetic_data):
    _, _, speech = synthetic_data
    x = SpeechAutoencoder.inputs_from(speech[:16])
    torch.manual_seed(0)
    config = SpeechAutoencoderConfig(spec=SPEC, channels=8, latent_dim=8, utterance_norm=True)
    clean = SpeechAutoencoder.from_training_data(config, speech)
    robust = SpeechAutoencoder.from_training_data(
        SpeechAutoencoderConfig(**{**vars(config), "augmentation": ROBUST, "invariance": 0.5}),
        speech,
    )
    robust.load_state_dict(clean.state_dict())
    robust.train()
    torch.manual_seed(1)
    terms = robust.loss(x)
    assert set(terms) == {"loss", "reconstruction", "invariance"}
    assert terms["invariance"] > 0
    torch.testing.assert_close(terms["loss"], terms["reconstruction"] + 0.5 * terms["invariance"])
    torch.manual_seed(1)
    assert torch.equal(robust.loss(x)["loss"], terms["loss"])  # seeded
    clean.train()
    assert set(clean.loss(x)) == {"loss", "reconstruction"}
    robust.eval()
    clean.eval()
    assert torch.equal(robust.loss(x)["loss"], clean.loss(x)["loss"])  # clean clips when evaluating
    assert torch.equal(robust.encode(x), clean.encode(x))


def test_the_speaker_code_reaches_only_the_decoder(synthetic_data):
    _, _, speech = synthetic_data
    torch.manual_seed(0)
    config = SpeechAutoencoderConfig(spec=SPEC, channels=8, latent_dim=8, speaker_dim=4)
    model = SpeechAutoencoder.from_training_data(config, speech)
    x = model.inputs_from(speech[:16])
    model.eval()
    with torch.no_grad():
        z, x_hat, reconstruction = model.encode(x), model.decode(model.encode(x)), model.loss(x)
        # The embedding is the content code and the duration: the speaker encoder is not in it.
        assert z.shape == (16, 8)
        model.speaker.to_code.bias.add_(1.0)
        assert torch.equal(model.encode(x), z)
        assert not torch.equal(
            model.loss(x)["loss"], reconstruction["loss"]
        )  # the decoder reads it
        # A decoded embedding is spoken with the average speaker code, not the clip's.
        assert torch.equal(model.decode(z), x_hat)
        model.mean_speaker.add_(1.0)
        assert not torch.equal(model.decode(z), x_hat)
    # mean_speaker is the running mean of the training clips' codes, frozen when evaluating.
    model.mean_speaker.zero_()
    model.eval()
    model.loss(x)
    assert torch.equal(model.mean_speaker, torch.zeros(1, 4))
    model.train()
    with torch.no_grad():
        codes = model.speaker(model.standardised(model.content(x)))
    model.loss(x)
    torch.testing.assert_close(model.mean_speaker, 0.01 * codes.mean(dim=0, keepdim=True))


def test_a_negative_speaker_dim_is_refused():
    with pytest.raises(ValueError, match="speaker_dim >= 0; got -1"):
        SpeechAutoencoderConfig(speaker_dim=-1)


def test_speech_invariance_without_augmentation_is_refused():
    with pytest.raises(ValueError, match="invariance=1.0 .*needs an augmentation"):
        SpeechAutoencoderConfig(invariance=1.0)


def test_a_speech_checkpoint_from_before_utterance_norm_and_the_speaker_code_still_loads(
    synthetic_data,
):
    _, _, speech = synthetic_data
    model = SpeechAutoencoder.from_training_data(
        SpeechAutoencoderConfig(spec=SPEC, channels=8, latent_dim=8), speech
    ).eval()
    checkpoint = save_autoencoder(model)
    del checkpoint["state_dict"]["voice"]
    del checkpoint["state_dict"]["mean_speaker"]
    for key in ("utterance_norm", "augmentation", "invariance", "speaker_dim"):
        del checkpoint["config"][key]
    loaded = load_autoencoder(checkpoint)
    x = model.inputs_from(speech[:4])
    assert torch.equal(loaded.encode(x), model.encode(x))
    assert torch.equal(loaded.decode(loaded.encode(x)), model.decode(model.encode(x)))


def test_a_robust_speech_checkpoint_keeps_its_augmentation(synthetic_data, tmp_path):
    _, _, speech = synthetic_data
    config = SpeechAutoencoderConfig(
        spec=SPEC, channels=8, latent_dim=8, utterance_norm=True, augmentation=ROBUST
    )
    model = SpeechAutoencoder.from_training_data(config, speech).eval()
    dataset = TorchCheckpointDataset(filepath=str(tmp_path / "speech.pt"))
    dataset.save(save_autoencoder(model))
    loaded = load_autoencoder(dataset.load())
    assert loaded.config.augmentation == ROBUST and loaded.config.utterance_norm
    x = model.inputs_from(speech[:4])
    assert torch.equal(loaded.encode(x), model.encode(x))


def test_speech_autoencoder_refuses_features_its_spec_does_not_describe(synthetic_data):
    _, _, speech = synthetic_data  # (N, 64, 16)
    other = SpeechAutoencoderConfig(spec=LogMelSpec(n_mels=64, n_frames=160), channels=8)
    with pytest.raises(ValueError, match=r"shape \(\d+, 64, 16\).*n_frames=160.*data_generation"):
        SpeechAutoencoder.from_training_data(other, speech)


def test_speech_content_frames_must_be_a_multiple_of_eight():
    with pytest.raises(ValueError, match="multiple of 8"):
        SpeechAutoencoder(SpeechAutoencoderConfig(content_frames=90))


@pytest.mark.parametrize("modality", ["image", "text", "speech"])
def test_checkpoint_round_trip_gives_identical_embeddings(synthetic_data, tmp_path, modality):
    model, raw = _models(synthetic_data)[modality]
    x = model.inputs_from(raw)
    model.eval()
    dataset = TorchCheckpointDataset(filepath=str(autoencoder_path(modality, tmp_path)))
    dataset.save(save_autoencoder(model))
    loaded = load_autoencoder(dataset.load())
    assert type(loaded) is type(model) and loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(loaded.encode(x), model.encode(x))
    again = load_trained_autoencoder(modality, project_path=tmp_path)
    with torch.no_grad():
        assert torch.equal(again.encode(x), model.encode(x))


def test_checkpoint_errors_are_explained(tmp_path):
    with pytest.raises(ValueError, match="not a modality autoencoder"):
        load_autoencoder({"kind": "joint", "config": {}, "state_dict": {}})
    with pytest.raises(FileNotFoundError, match="kedro run --pipelines=embeddings"):
        load_trained_autoencoder("image", project_path=tmp_path)
    with pytest.raises(ValueError, match="is not one of"):
        autoencoder_path("video")
