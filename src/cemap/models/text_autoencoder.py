"""Word-level GRU sequence autoencoder for the sentences; its bottleneck is the text embedding.

    e = tanh(W h_enc(<bos> w_1 .. w_n <eos>))          (the embedding, in [-1, 1]^D)
    p(w_t | w_<t, e) = softmax(W_o h_dec,t),  h_dec,0 = tanh(W_e e),  input_t = [w_t-1; e]
    loss = -sum_t log p(w_t | w_<t, e + noise) / number of tokens

The small Gaussian noise on e during training makes the decoder tolerate embeddings that are
only close to a sentence's, as the joint model's generated ones will be.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")


class Vocabulary:
    """Words <-> ids; ids 0..3 are ``<pad> <bos> <eos> <unk>``, then the words in sorted order."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(
                f"A vocabulary must start with {SPECIAL_TOKENS}; got {list(tokens[:4])}."
            )
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def from_sentences(cls, sentences: Iterable[str]) -> Vocabulary:
        words = sorted({word for sentence in sentences for word in sentence.split()})
        return cls([*SPECIAL_TOKENS, *(w for w in words if w not in SPECIAL_TOKENS)])

    def __len__(self) -> int:
        return len(self.tokens)

    def ids(self, sentence: str) -> list[int]:
        """Word ids of ``sentence`` (no ``<bos>``/``<eos>``); unknown words become ``<unk>``."""
        return [self.index.get(word, UNK) for word in sentence.split()]

    def sentence(self, ids: Iterable[int]) -> str:
        """The words up to the first ``<eos>``; ``<bos>`` and ``<pad>`` are skipped."""
        words = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i not in (PAD, BOS):
                words.append(self.tokens[i])
        return " ".join(words)


@dataclass
class TextAutoencoderConfig:
    vocabulary: list[str] = field(default_factory=lambda: list(SPECIAL_TOKENS))
    max_len: int = 16  # tokens per sequence, counting <bos> and <eos>
    embedding_dim: int = 64
    word_dim: int = 32
    hidden_dim: int = 128
    noise_std: float = 0.05  # Gaussian noise added to the embedding while training the decoder


class TextAutoencoder(nn.Module):
    modality: ClassVar[str] = "text"
    kind: ClassVar[str] = "text_gru"

    def __init__(self, config: TextAutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        self.vocabulary = Vocabulary(config.vocabulary)
        n_tokens, d = len(self.vocabulary), config.embedding_dim
        self.words = nn.Embedding(n_tokens, config.word_dim, padding_idx=PAD)
        self.encoder_rnn = nn.GRU(config.word_dim, config.hidden_dim, batch_first=True)
        self.to_embedding = nn.Linear(config.hidden_dim, d)
        self.from_embedding = nn.Linear(d, config.hidden_dim)
        self.decoder_rnn = nn.GRU(config.word_dim + d, config.hidden_dim, batch_first=True)
        self.to_logits = nn.Linear(config.hidden_dim, n_tokens)

    @classmethod
    def from_training_data(
        cls, config: TextAutoencoderConfig, sentences: Sequence[str]
    ) -> TextAutoencoder:
        """A fresh autoencoder whose vocabulary and length cover the training ``sentences``."""
        vocabulary = Vocabulary.from_sentences(sentences)
        max_len = max(len(s.split()) for s in sentences) + 2
        return cls(replace(config, vocabulary=vocabulary.tokens, max_len=max_len))

    def inputs_from(self, sentences: Sequence[str]) -> torch.Tensor:
        """``(N, max_len) int64``: ``<bos> w_1 .. w_n <eos> <pad> ..``; longer sentences are cut."""
        ids = torch.full((len(sentences), self.config.max_len), PAD, dtype=torch.long)
        for row, sentence in enumerate(sentences):
            words = self.vocabulary.ids(sentence)[: self.config.max_len - 2]
            ids[row, : len(words) + 2] = torch.tensor([BOS, *words, EOS])
        return ids

    def sentences_from(self, ids: torch.Tensor) -> list[str]:
        """Sentences from ``(N, L)`` token ids (inputs or ``decode`` output)."""
        return [self.vocabulary.sentence(row) for row in ids.tolist()]

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """``(N, L)`` token ids -> embeddings ``(N, embedding_dim)`` in [-1, 1]."""
        states, _ = self.encoder_rnn(self.words(ids))
        # The state at <eos> has read the whole sentence; padding after it is never looked at.
        eos = (ids == EOS).int().argmax(dim=1)
        final = states[torch.arange(ids.shape[0], device=ids.device), eos]
        return torch.tanh(self.to_embedding(final))

    def _decoder_logits(self, z: torch.Tensor, previous: torch.Tensor, h: torch.Tensor):
        steps = torch.cat(
            [self.words(previous), z[:, None].expand(-1, previous.shape[1], -1)], dim=2
        )
        states, h = self.decoder_rnn(steps, h)
        return self.to_logits(states), h

    def _initial_state(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.from_embedding(z))[None].contiguous()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Greedy decoding: ``(N, embedding_dim)`` -> ``(N, max_len)`` ids laid out like the inputs."""
        n = z.shape[0]
        h = self._initial_state(z)
        token = torch.full((n, 1), BOS, dtype=torch.long, device=z.device)
        out, finished = [token], torch.zeros(n, 1, dtype=torch.bool, device=z.device)
        for _ in range(self.config.max_len - 1):
            logits, h = self._decoder_logits(z, token, h)
            token = logits.argmax(dim=2).masked_fill(finished, PAD)
            out.append(token)
            finished |= token == EOS
        return torch.cat(out, dim=1)

    def reconstruct(self, ids: torch.Tensor) -> torch.Tensor:
        """Greedy decoding of the embedding of ``ids``; same layout as ``ids``."""
        return self.decode(self.encode(ids))

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced next-token logits ``(N, L-1, V)`` and the embeddings."""
        z = self.encode(ids)
        z_in = z + self.config.noise_std * torch.randn_like(z) if self.training else z
        logits, _ = self._decoder_logits(z_in, ids[:, :-1], self._initial_state(z_in))
        return logits, z

    def loss(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        logits, _ = self(ids)
        targets = ids[:, 1:]
        nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD)
        real = targets != PAD
        accuracy = ((logits.argmax(dim=2) == targets) & real).sum() / real.sum()
        return {"loss": nll, "token_accuracy": accuracy}

    @staticmethod
    def reconstruction_metrics(ids: torch.Tensor, ids_hat: torch.Tensor) -> dict[str, float]:
        """Token accuracy over the real tokens (words and ``<eos>``) and exact-sentence rate."""
        real = ids[:, 1:] != PAD
        correct = ids[:, 1:] == ids_hat[:, 1:]
        return {
            "token_accuracy": float((correct & real).sum() / real.sum()),
            "exact_sentence_rate": float((correct | ~real).all(dim=1).float().mean()),
        }
