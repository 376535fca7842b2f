"""Corpus heads on the pretrained sentence vectors (multilingual-e5-small,
bot/nlu/sentence_encoder.py): one logistic regression (384 weights and a bias) per head,
trained by `make emotion-model` (bot/emotion/build.py, `--vector-heads`) on samples of the
public corpora and stored in the corpus artifact next to the n-gram heads.

- `vec_weibo_angry`: Weibo posts labelled angry vs every other emotion;
- `vec_weibo_negative`: Weibo angry or sad vs neutral or happy (surprise and fear left out);
- `vec_review_negative`: negative vs positive product and hotel reviews;
- `vec_helpdesk_dissatisfied`: helpdesk customer turns of dissatisfied vs satisfied
  dialogues (stc3 satisfaction scores, the cut-offs of the n-gram head).

A message is encoded as the intent classifier encodes it (`classifier_text`), so that in the
running bot the shared encoder's per-process cache already holds its vector and the heads
cost a dot product. Only weights are stored, never a text or a vector of one.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VECTOR_HEADS = ("vec_weibo_angry", "vec_weibo_negative", "vec_review_negative",
                "vec_helpdesk_dissatisfied")
DIMENSION = 384

Encoder = Callable[[Sequence[str]], np.ndarray]


def encoder_text(text: str) -> str:
    """The text the encoder reads: the one the intent classifier encodes (shared cache)."""
    from bot.nlu.normalize import classifier_text

    return classifier_text(text or "")


def shared_encoder(texts: Sequence[str]) -> np.ndarray:
    """Sentence vectors from the process-wide encoder (and its cache)."""
    from bot.nlu.sentence_encoder import SentenceEncoder

    return SentenceEncoder.shared().encode([encoder_text(t) for t in texts])


@dataclass
class VectorHeads:
    """Linear heads over the sentence vector: decision value = vector . coef + intercept."""

    heads: tuple[str, ...]
    coef: np.ndarray  # heads x 384
    intercept: np.ndarray  # heads

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VectorHeads:
        """From the artifact's `vector_heads` entry: {head: {"coef": [...], "intercept": b}}."""
        heads = tuple(data)
        coef = np.array([data[h]["coef"] for h in heads], dtype=np.float32)
        if coef.ndim != 2 or coef.shape[1] != DIMENSION:
            raise ValueError(f"vector heads need {DIMENSION} weights each, got {coef.shape}")
        intercept = np.array([float(data[h]["intercept"]) for h in heads], dtype=np.float32)
        return cls(heads, coef, intercept)

    def scores_of(self, vectors: np.ndarray) -> list[dict[str, float]]:
        """Each head's decision value for each sentence vector (a zero vector, a blank text,
        scores 0: undecided)."""
        values = np.asarray(vectors, dtype=np.float32) @ self.coef.T + self.intercept
        blank = ~np.any(vectors, axis=1)
        values[blank] = 0.0
        return [dict(zip(self.heads, map(float, row))) for row in values]


def to_dict(coef: dict[str, Sequence[float]], intercept: dict[str, float]) -> dict[str, Any]:
    """The artifact's `vector_heads` entry (weights rounded to 4 significant digits)."""
    return {h: {"intercept": round(float(intercept[h]), 4),
                "coef": [float(f"{float(w):.4g}") for w in coef[h]]} for h in coef}


class VectorCache:
    """Sentence vectors of many texts, kept on disk between runs (builds and evaluations
    encode thousands of texts at ~0.1 s each on a busy machine). Keyed by a hash of the
    encoder text; the files hold vectors only. Use a directory outside the project (/tmp)."""

    def __init__(self, directory: str | Path, encoder: Encoder | None = None,
                 shard_size: int = 256) -> None:
        """Load every shard of `directory`; `encoder` encodes what is missing (default: the
        shared sentence encoder)."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._encoder = encoder
        self._shard_size = shard_size
        self._vectors: dict[str, np.ndarray] = {}
        for shard in sorted(self.directory.glob("shard-*.npz")):
            with np.load(shard) as data:
                self._vectors.update(zip(data["keys"].tolist(), data["vectors"]))

    def __len__(self) -> int:
        return len(self._vectors)

    @staticmethod
    def key(text: str) -> str:
        """Cache key of a text (a hash of what the encoder reads)."""
        return hashlib.sha1(encoder_text(text).strip()[:200].encode("utf-8")).hexdigest()

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """A (len(texts), 384) matrix, encoding and saving the texts not cached yet."""
        keys = [self.key(t) for t in texts]
        missing = list(dict.fromkeys(
            (k, t) for k, t in zip(keys, texts) if k not in self._vectors))
        encoder = self._encoder or _own_encoder()
        for start in range(0, len(missing), self._shard_size):
            batch = missing[start:start + self._shard_size]
            vectors = encoder([t for _, t in batch])
            self._save([k for k, _ in batch], vectors)
            if progress:
                print(f"encoded {start + len(batch)} / {len(missing)}", flush=True)
        return np.array([self._vectors[k] for k in keys], dtype=np.float32).reshape(
            len(texts), DIMENSION)

    def _save(self, keys: list[str], vectors: np.ndarray) -> None:
        index = len(list(self.directory.glob("shard-*.npz")))
        np.savez(self.directory / f"shard-{index:05d}.npz", keys=np.array(keys),
                 vectors=np.asarray(vectors, dtype=np.float32))
        self._vectors.update(zip(keys, np.asarray(vectors, dtype=np.float32)))


def _own_encoder() -> Encoder:
    from bot.nlu.sentence_encoder import SentenceEncoder

    encoder = SentenceEncoder()
    return lambda texts: encoder.encode([encoder_text(t) for t in texts])
