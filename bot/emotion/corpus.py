"""Scores learned from public labelled corpora (built by `make emotion-model`, see
bot/emotion/build.py and MODEL_CARD.md), loaded from the committed artifact
`bot/emotion/corpus_model.json`: character 1-3-gram TF-IDF weights of three linear heads.

- `weibo_angry`: Weibo posts labelled angry vs every other emotion (SMP2020-EWECT);
- `review_negative`: negative vs positive product and hotel reviews;
- `helpdesk_dissatisfied`: customer turns of helpdesk dialogues whose customers were
  dissatisfied vs satisfied (NTCIR STC-3 satisfaction scores), plus the project's examples.

Each head gives a decision value (log-odds, 0 = undecided). Only n-gram statistics are stored,
never a text; loading needs nothing outside the project.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.emotion.lexicon import prepare
from bot.emotion.vector_heads import VectorHeads

ARTIFACT_FILE = Path(__file__).resolve().parent / "corpus_model.json"
FORMAT_VERSION = 1
HEADS = ("weibo_angry", "review_negative", "helpdesk_dissatisfied")
NGRAM_RANGE = (1, 3)


def make_vectorizer(vocabulary: Sequence[str] | None = None, min_df: int = 1) -> TfidfVectorizer:
    """The vectorizer of the corpus heads: characters 1-3, sublinear tf, L2-normalised."""
    return TfidfVectorizer(analyzer="char", ngram_range=NGRAM_RANGE, sublinear_tf=True,
                           lowercase=False, min_df=min_df,
                           vocabulary=list(vocabulary) if vocabulary is not None else None,
                           dtype=np.float64)


@dataclass
class CorpusScorer:
    """The linear heads of the artifact over one shared character n-gram vocabulary."""

    vectorizer: TfidfVectorizer
    heads: tuple[str, ...]
    coef: np.ndarray  # heads x features
    intercept: np.ndarray  # heads
    meta: dict[str, Any]
    data: dict[str, Any] = field(repr=False, default_factory=dict)
    # Heads on the pretrained sentence vectors (bot/emotion/vector_heads.py), when built.
    vector_heads: VectorHeads | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusScorer:
        """Rebuild the scorer from the artifact's JSON data."""
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported corpus model format {data.get('format_version')}")
        heads = tuple(data["heads"])
        rows = data["features"]
        if any(len(row) != len(heads) + 2 for row in rows):
            raise ValueError("corpus model: every feature needs an n-gram, an idf and a weight "
                             "per head")
        vectorizer = make_vectorizer([row[0] for row in rows])
        vectorizer.idf_ = np.array([row[1] for row in rows], dtype=float)
        coef = np.array([[row[2 + i] for row in rows] for i in range(len(heads))], dtype=float)
        intercept = np.array([data["intercept"][h] for h in heads], dtype=float)
        vector_heads = (VectorHeads.from_dict(data["vector_heads"])
                        if data.get("vector_heads") else None)
        return cls(vectorizer, heads, coef, intercept, data.get("meta") or {}, data,
                   vector_heads)

    @classmethod
    def load(cls, path: str | Path = ARTIFACT_FILE) -> CorpusScorer:
        """Read the committed artifact."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def dumps(self) -> str:
        """The artifact's JSON text, as written by the build."""
        return dumps(self.data)

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Each head's decision value for each text."""
        if not texts:
            return []
        matrix = self.vectorizer.transform([prepare(t) for t in texts])
        values = np.asarray(matrix @ self.coef.T) + self.intercept
        return [dict(zip(self.heads, map(float, row))) for row in values]


def to_dict(vocabulary: Sequence[str], idf: Sequence[float], coef: dict[str, Sequence[float]],
            intercept: dict[str, float], meta: dict[str, Any]) -> dict[str, Any]:
    """The artifact's JSON data; one feature row [n-gram, idf, weight per head] each, rounded
    to 4 significant digits (plenty)."""
    heads = list(coef)
    return {
        "format_version": FORMAT_VERSION,
        "meta": meta,
        "heads": heads,
        "intercept": {h: round(float(v), 4) for h, v in intercept.items()},
        "features": [[gram, _round(idf[i]), *(_round(coef[h][i]) for h in heads)]
                     for i, gram in enumerate(vocabulary)],
    }


def dumps(data: dict[str, Any]) -> str:
    """The artifact as JSON text with one feature row per line, so that no line of the file
    holds more than one n-gram (the copy checker reads files line by line); the sentence-vector
    heads' weights, when built, one number per line."""
    head = {k: v for k, v in data.items() if k != "features"}
    rows = ",\n".join(json.dumps(row, ensure_ascii=False) for row in data["features"])
    return json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "features": [\n' \
        + rows + "\n ]\n}\n"


def _round(value: float) -> float:
    return float(f"{float(value):.4g}")
