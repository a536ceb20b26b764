"""ConditionalGenerator: every source → target pair, raw or embedding inputs, means or samples."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from cemap.joint import joint_checkpoint
from cemap.joint.generation import ConditionalGenerator
from cemap.joint.synthetic import synthetic_paired_embeddings
from cemap.models import save_autoencoder
from tests.joint.conftest import MODALITIES, SENTENCES, TINY_DIMS

N = 3


def _raw_inputs(modality: str):
    rng = np.random.default_rng(0)
    if modality == "image":
        return rng.integers(0, 256, size=(N, 28, 56, 3), dtype=np.uint8)
    if modality == "text":
        return SENTENCES[:N]
    return rng.normal(size=(N, 16, 16)).astype(np.float32)  # the tiny speech model's log-mels


def _check(target: str, output, n_samples: int, n: int = N) -> None:
    lead = (n,) if n_samples == 1 else (n, n_samples)
    if target == "image":
        assert output.shape == (*lead, 28, 56, 3) and output.dtype == np.uint8
    elif target == "text":
        assert len(output) == n
        flat = output if n_samples == 1 else list(itertools.chain(*output))
        assert all(isinstance(s, str) for s in flat)
        assert n_samples == 1 or all(len(row) == n_samples for row in output)
    else:
        assert output.shape == (*lead, 16, 16) and output.dtype == np.float32


@pytest.fixture
def generator(tiny_model, tiny_autoencoders) -> ConditionalGenerator:
    return ConditionalGenerator(tiny_model, tiny_autoencoders, device="cpu")


@pytest.mark.parametrize(("source", "target"), list(itertools.permutations(MODALITIES, 2)))
def test_every_pair_from_raw_inputs(generator, source, target):
    _check(target, generator.generate(source, _raw_inputs(source), target), 1)
    samples = generator.generate(source, _raw_inputs(source), target, n_samples=2, use_mean=False)
    _check(target, samples, 2)


@pytest.mark.parametrize(("source", "target"), list(itertools.permutations(MODALITIES, 2)))
def test_every_pair_from_embeddings(generator, source, target):
    embeddings = synthetic_paired_embeddings(N, TINY_DIMS, seed=1)[0][source]
    _check(target, generator.generate(source, embeddings, target), 1)
    as_tensor = generator.generate(source, torch.from_numpy(embeddings), target, embeddings=True)
    _check(target, as_tensor, 1)


def test_raw_and_embedding_inputs_give_the_same_result(generator, tiny_autoencoders):
    images = _raw_inputs("image")
    e_image = tiny_autoencoders["image"].encode(tiny_autoencoders["image"].inputs_from(images))
    from_raw = generator.generate("image", images, "speech")
    from_embedding = generator.generate("image", e_image.detach().numpy(), "speech")
    np.testing.assert_allclose(from_raw, from_embedding, rtol=1e-5, atol=1e-5)


def test_one_sentence_and_waveform_output(generator):
    waveform = generator.generate("text", SENTENCES[0], "speech", speech_output="waveform")
    assert waveform.ndim == 2 and waveform.shape[0] == 1 and waveform.dtype == np.float32
    assert np.abs(waveform).max() <= 1.0


def test_means_are_deterministic_and_samples_vary(generator):
    images = _raw_inputs("image")
    first = generator.generate("image", images, "speech")
    np.testing.assert_array_equal(first, generator.generate("image", images, "speech"))
    drawn = generator.generate("image", images, "speech", n_samples=2, use_mean=False)
    assert not np.allclose(drawn[:, 0], drawn[:, 1])


def test_missing_autoencoder_is_named_with_the_way_out(tiny_model):
    generator = ConditionalGenerator(tiny_model, device="cpu")
    with pytest.raises(ValueError, match="give text embeddings instead"):
        generator.generate("text", SENTENCES[:1], "image")
    with pytest.raises(ValueError, match="image autoencoder"):
        generator.generate("text", np.zeros((1, TINY_DIMS["text"]), np.float32), "image")


def test_from_checkpoints_selects_cpu_without_cuda(
    monkeypatch, tiny_model, tiny_autoencoders, tmp_path
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    path = tmp_path / "image_autoencoder.pt"
    torch.save(save_autoencoder(tiny_autoencoders["image"]), path)
    generator = ConditionalGenerator.from_checkpoints(
        joint_checkpoint(tiny_model),
        {"image": path, "text": save_autoencoder(tiny_autoencoders["text"])},
    )
    assert generator.device == torch.device("cpu")
    _check("image", generator.generate("text", SENTENCES[:N], "image"), 1)


def test_speech_from_waveforms_matches_speech_from_their_log_mels(generator, tiny_autoencoders):
    spec = tiny_autoencoders["speech"].config.spec
    rng = np.random.default_rng(2)
    clips = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (4000, 6000)]
    log_mels = spec.compute(clips, spec.sample_rate)
    from_clips = generator.generate("speech", clips, "image")
    _check("image", from_clips, 1, n=2)
    np.testing.assert_array_equal(from_clips, generator.generate("speech", log_mels, "image"))
    one_clip = generator.generate("speech", clips[0], "text")
    assert len(one_clip) == 1


def test_image_to_speech_speaks_the_sentence_generated_from_the_image(generator):
    images = _raw_inputs("image")
    assert generator.routes == {("image", "speech"): "text"}  # the default
    sentences = generator.generate("image", images, "text")
    by_hand = generator.generate("text", sentences, "speech")
    np.testing.assert_allclose(generator.generate("image", images, "speech"), by_hand, atol=1e-6)
    straight = generator.render(
        "speech",
        generator.joint_model.translate(generator.embed("image", images), "image", "speech"),
    )
    np.testing.assert_allclose(generator.generate("image", images, "speech", direct=True), straight)
    assert not np.allclose(straight, by_hand)


def test_routes_can_be_turned_off_and_are_checked(tiny_model, tiny_autoencoders):
    images = _raw_inputs("image")
    straight = ConditionalGenerator(tiny_model, tiny_autoencoders, device="cpu", routes={})
    assert straight.routes == {}
    routed = ConditionalGenerator(tiny_model, tiny_autoencoders, device="cpu")
    np.testing.assert_allclose(
        straight.generate("image", images, "speech"),
        routed.generate("image", images, "speech", direct=True),
    )
    for bad in ({"image_to_speech": "image"}, {"image_to_sound": "text"}, {"imagespeech": "text"}):
        with pytest.raises(ValueError, match="third modality") as error:
            ConditionalGenerator(tiny_model, device="cpu", routes=bad)
        assert repr(next(iter(bad))) in str(error.value)
    no_text = {m: ae for m, ae in tiny_autoencoders.items() if m != "text"}
    with pytest.raises(ValueError, match=r"through text .*routes=\{\}"):
        ConditionalGenerator(tiny_model, no_text, device="cpu").generate("image", images, "speech")


def test_the_evaluation_schema_refuses_a_bad_route_before_any_node_runs():
    from pydantic import ValidationError

    from cemap.pipelines.evaluation.params import EvaluationParams

    assert EvaluationParams().routes == {"image_to_speech": "text"}
    assert EvaluationParams(routes={}).routes == {}
    with pytest.raises(ValidationError, match=r"evaluation\.routes: route 'image_to_speech'"):
        EvaluationParams(routes={"image_to_speech": "speech"})
