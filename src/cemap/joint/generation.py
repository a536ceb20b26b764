"""Conditional generation between any two modalities, in plain Python (no Kedro session).

input ─(source autoencoder encoder)→ e_source ─q_source→ z ─dec_target→ e_target
      ─(target autoencoder decoder)→ image | sentence | log-mel (| waveform)

A *routed* direction goes through a third modality's data first: image→speech generates the
sentence (source → via, decoded and re-encoded by via's autoencoder), then speaks it
(via → target). Speech is one of many renderings of a sentence — four phrasings, many voices
— and an image says nothing of which phrasing: translated straight, the joint model gives the
average over the phrasings, which no decoder speaks (docs/design.md §8.12).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from cemap.joint.checkpoint import Checkpoint, load_joint_model
from cemap.joint.model import JointEmbeddingModel
from cemap.torch_runtime import select_device
from cemap.training import predict_in_batches

Inputs = Any  # see ConditionalGenerator.embed for what each modality accepts
Generated = np.ndarray | list[str] | list[list[str]]
#: ``"<source>_to_<target>": via`` — the directions generated through ``via``'s data
#: (module docstring); ``routes={}`` generates every direction straight through the latent.
DEFAULT_ROUTES = {"image_to_speech": "text"}


def parse_routes(
    routes: Mapping[str, str], modalities: Sequence[str]
) -> dict[tuple[str, str], str]:
    """``{(source, target): via}`` from ``{"<source>_to_<target>": via}``; a ``ValueError``
    names a malformed direction, an unknown modality or a via that is the source or target."""
    parsed = {}
    for direction, via in routes.items():
        source, _, target = str(direction).partition("_to_")
        names = (source, target, via)
        if not all(name in modalities for name in names) or len(set(names)) < 3:
            raise ValueError(
                f"route {direction!r}: {via!r} must name a source, a target and a third modality "
                f"to go through, all of {list(modalities)}, e.g. {{'image_to_speech': 'text'}}; "
                "{} generates every direction straight through the joint latent."
            )
        parsed[source, target] = via
    return parsed


class ConditionalGenerator:
    """The joint model plus the modality autoencoders it was trained on.

    ``autoencoders`` maps modality to a trained autoencoder (``cemap.models``); only the
    modalities you give raw inputs for or generate need one (and the via of a routed
    direction). Embedding-only use needs none. ``routes`` (default :data:`DEFAULT_ROUTES`)
    names the directions generated through a third modality.
    """

    def __init__(
        self,
        joint_model: JointEmbeddingModel,
        autoencoders: Mapping[str, nn.Module] | None = None,
        device: str = "auto",
        batch_size: int = 512,
        routes: Mapping[str, str] | None = None,
    ) -> None:
        self.device = select_device(device)
        self.joint_model = joint_model.to(self.device).eval()
        self.autoencoders = {m: ae.to(self.device).eval() for m, ae in (autoencoders or {}).items()}
        self.batch_size = batch_size
        chosen = DEFAULT_ROUTES if routes is None else routes
        self.routes = parse_routes(chosen, joint_model.modalities)

    @classmethod
    def from_checkpoints(
        cls,
        joint_checkpoint: Checkpoint | str | os.PathLike[str],
        autoencoder_checkpoints: Mapping[str, Checkpoint | str | os.PathLike[str]] | None = None,
        device: str = "auto",
        routes: Mapping[str, str] | None = None,
    ) -> ConditionalGenerator:
        """Load the joint model and autoencoders from checkpoint dicts or ``.pt`` paths."""
        from cemap.models import load_autoencoder

        autoencoders = {}
        for modality, checkpoint in (autoencoder_checkpoints or {}).items():
            if not isinstance(checkpoint, dict):
                checkpoint = torch.load(checkpoint, map_location="cpu", weights_only=True)
            autoencoders[modality] = load_autoencoder(checkpoint)
        return cls(load_joint_model(joint_checkpoint), autoencoders, device=device, routes=routes)

    def _autoencoder(self, modality: str, why: str) -> nn.Module:
        if modality not in self.autoencoders:
            raise ValueError(
                f"{why} needs the {modality} autoencoder, but this generator only has "
                f"{sorted(self.autoencoders) or 'none'}; pass it in `autoencoders`, or give "
                f"{modality} embeddings instead of raw inputs."
            )
        return self.autoencoders[modality]

    def _looks_like_embeddings(self, modality: str, inputs: Inputs) -> bool:
        """A floating 2-D array or tensor exactly as wide as ``modality``'s embeddings."""
        if isinstance(inputs, Tensor):
            floating, shape = inputs.is_floating_point(), tuple(inputs.shape)
        elif isinstance(inputs, np.ndarray):
            floating, shape = np.issubdtype(inputs.dtype, np.floating), inputs.shape
        else:  # sentences, lists of clips
            return False
        width = self.joint_model.config.embedding_dims[modality]
        return floating and len(shape) == 2 and shape[1] == width

    @staticmethod
    def _speech_inputs(autoencoder: nn.Module, inputs: Inputs, sample_rate: int | None) -> Tensor:
        """Log-mels ``(N, n_mels, T)`` from log-mels, or from waveforms computed exactly as the
        training features were (the autoencoder's config keeps their ``LogMelSpec``)."""
        if isinstance(inputs, Tensor):
            inputs = inputs.detach().cpu().numpy()
        if isinstance(inputs, list | tuple):
            clips = [np.asarray(clip, dtype=np.float32) for clip in inputs]
            if clips and clips[0].ndim == 2:  # a list of (n_mels, T) log-mels
                return autoencoder.inputs_from(np.stack(clips))
        else:
            array = np.asarray(inputs, dtype=np.float32)
            if array.ndim == 3:
                return autoencoder.inputs_from(array)
            clips = [array] if array.ndim == 1 else list(array)
        spec = autoencoder.config.spec
        features = spec.compute(clips, sample_rate or spec.sample_rate)
        return autoencoder.inputs_from(features)

    @torch.no_grad()
    def embed(
        self,
        modality: str,
        inputs: Inputs,
        embeddings: bool | None = None,
        sample_rate: int | None = None,
    ) -> Tensor:
        """The ``modality`` embeddings ``(N, D)`` of ``inputs``, on the generator's device.

        Raw inputs: image — ``(N, 28, 56, 3) uint8`` images or a ``(N, 3, 28, 56)`` float tensor
        in [0, 1]; text — one sentence or a list of sentences; speech — ``(N, n_mels, T)``
        log-mels, or waveforms in [-1, 1] at ``sample_rate`` (default: the rate the speech
        autoencoder was trained at): one 1-D clip, a list of clips, or ``(N, samples)``.
        Embeddings: a floating ``(N, D)`` NumPy array or tensor, D the modality's embedding width.
        ``embeddings=None`` tells the two apart by that rule (so ``(N, D)`` waveforms need
        ``embeddings=False``); pass ``True``/``False`` to say which it is.
        """
        if modality not in self.joint_model.modalities:
            raise ValueError(
                f"modality {modality!r} is not one of {list(self.joint_model.modalities)}."
            )
        if embeddings is None:
            embeddings = self._looks_like_embeddings(modality, inputs)
        if embeddings:
            return torch.as_tensor(inputs, dtype=torch.float32).to(self.device)
        autoencoder = self._autoencoder(modality, f"Encoding raw {modality} inputs")
        if modality == "text":
            x = autoencoder.inputs_from([inputs] if isinstance(inputs, str) else list(inputs))
        elif modality == "speech":
            x = self._speech_inputs(autoencoder, inputs, sample_rate)
        elif isinstance(inputs, Tensor):
            x = inputs.float()
        else:
            x = autoencoder.inputs_from(np.asarray(inputs))
        return predict_in_batches(autoencoder.encode, (x,), self.batch_size, self.device).to(
            self.device
        )

    @torch.no_grad()
    def render(
        self,
        modality: str,
        embeddings: Tensor,
        speech_output: Literal["log_mel", "waveform"] = "log_mel",
    ) -> Generated:
        """Decode ``(N, D)`` embeddings with the ``modality`` autoencoder: images
        ``(N, 28, 56, 3) uint8``, a list of N sentences, or speech as ``(N, n_mels, T)`` float32
        log-mels or ``(N, samples)`` float32 Griffin-Lim waveforms in [-1, 1]."""
        autoencoder = self._autoencoder(modality, f"Generating {modality}")
        decoded = predict_in_batches(
            autoencoder.decode, (embeddings,), self.batch_size, self.device
        )
        if modality == "image":
            return autoencoder.images_from(decoded)
        if modality == "text":
            return autoencoder.sentences_from(decoded)
        if speech_output == "waveform":
            return autoencoder.to_waveform(decoded).numpy().astype(np.float32)
        if speech_output != "log_mel":
            raise ValueError(f"speech_output={speech_output!r} is not 'log_mel' or 'waveform'.")
        return decoded.numpy().astype(np.float32)

    @torch.no_grad()
    def generate(
        self,
        source_modality: str,
        inputs: Inputs,
        target_modality: str,
        n_samples: int = 1,
        use_mean: bool = True,
        *,
        embeddings: bool | None = None,
        sample_rate: int | None = None,
        speech_output: Literal["log_mel", "waveform"] = "log_mel",
        direct: bool = False,
    ) -> Generated:
        """``target_modality`` outputs conditioned on ``source_modality`` inputs.

        ``inputs`` are raw or embeddings (see ``embed``; ``sample_rate`` is that of input
        waveforms). z is the mean of q_source
        (``use_mean``) or drawn from it; ``n_samples > 1`` draws several per input and needs
        ``use_mean=False``. A routed direction (``routes``) goes through its via's data, with
        the mean or a draw at both steps; ``direct=True`` skips the route. Returns, for N
        inputs: images ``(N, 28, 56, 3) uint8``, N sentences, or speech ``(N, n_mels, T)``
        log-mels / ``(N, samples)`` waveforms (``speech_output``); with ``n_samples > 1`` a
        sample axis follows N — ``(N, n_samples, ...)`` arrays or N lists of ``n_samples``
        sentences.
        """
        e_source = self.embed(source_modality, inputs, embeddings, sample_rate)
        via = None if direct else self.routes.get((source_modality, target_modality))
        if via is None:
            e_target = self.joint_model.translate(
                e_source, source_modality, target_modality, use_mean=use_mean, n_samples=n_samples
            )
        else:
            e_target = self._through(
                e_source, source_modality, via, target_modality, use_mean, n_samples
            )
            if n_samples > 1:  # one via output per draw, each translated once more
                e_target = e_target.reshape(-1, n_samples, e_target.shape[-1])
        if e_target.ndim == 2:
            return self.render(target_modality, e_target, speech_output)
        n, n_samples = e_target.shape[:2]
        flat = self.render(target_modality, e_target.reshape(n * n_samples, -1), speech_output)
        if isinstance(flat, list):
            return [flat[i * n_samples : (i + 1) * n_samples] for i in range(n)]
        return flat.reshape(n, n_samples, *flat.shape[1:])

    @torch.no_grad()
    def _through(
        self, e_source: Tensor, source: str, via: str, target: str, use_mean: bool, n_samples: int
    ) -> Tensor:
        """Target embeddings ``(N * n_samples, D_target)`` from source embeddings by way of
        ``via``'s data: source → via embeddings, decoded and re-encoded by ``via``'s
        autoencoder (a sentence, for text), then via → target."""
        if via not in self.autoencoders:
            raise ValueError(
                f"{source}→{target} is generated through {via} (routes), which needs the {via} "
                f"autoencoder; pass it in `autoencoders`, or `routes={{}}` to translate "
                f"{source}→{target} straight through the joint latent."
            )
        e_via = self.joint_model.translate(
            e_source, source, via, use_mean=use_mean, n_samples=n_samples
        )
        e_via = e_via.reshape(-1, e_via.shape[-1])
        e_via = self.embed(via, self.render(via, e_via), embeddings=False)
        return self.joint_model.translate(e_via, via, target, use_mean=use_mean)
