"""Out of scope as a decision of its own: a small detector stacked on the intent classifier.

Measured by `evaluation/scope_experiments.py` and not kept in the bot (docs/evaluation.md,
"Out of scope as a decision"): on the study set it moved the working half but raised the
in-scope messages wrongly rejected on the held-out half. Kept here so the experiment can be
rerun. Out of scope is one intent among ~30 in the intent classifier; the detector answers one
question, "is this the shop's business?", from evidence the classifier already has:

- the probability mass the classifier (logistic regression mixed with the nearest-neighbour
  votes) gives the out-of-scope intents, as a log-odds;
- the share of the nearest training examples' votes that are out of scope, as a log-odds;
- how close the message is to the nearest in-scope and out-of-scope training examples (mean
  of the top cosines of the sentence vectors) and the difference.

It is a logistic regression with balanced classes fitted on cross-validated evidence of the
training examples (each example scored by a classifier that did not see it), so that its
probabilities hold on new messages rather than on memorised ones. Its probability decides out
of scope against a threshold; in scope, the intent classifier picks among the other intents.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

EPSILON = 1e-6
# Neighbours averaged for the similarity features.
SIMILARITY_K = 5


def log_odds(share: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), kept finite at 0 and 1."""
    return np.log((share + EPSILON) / (1.0 - share + EPSILON))


def top_similarities(vectors: np.ndarray, examples: np.ndarray, outside: np.ndarray,
                     k: int = SIMILARITY_K) -> np.ndarray:
    """Per text (unit rows): the mean of its `k` highest cosines to the in-scope examples and
    to the out-of-scope ones (`outside` marks those), two columns. A blank text gets zeros."""
    out = np.zeros((len(vectors), 2))
    if not len(vectors) or not len(examples):
        return out
    similarities = vectors @ examples.T
    for column, mask in enumerate((~outside, outside)):
        if not mask.any():
            continue
        n = min(k, int(mask.sum()))
        out[:, column] = np.sort(similarities[:, mask], axis=1)[:, -n:].mean(axis=1)
    return out


def detector_features(probabilities: np.ndarray, votes: np.ndarray, similarities: np.ndarray,
                      outside: np.ndarray) -> np.ndarray:
    """The detector's inputs for texts with these intent probabilities, neighbour votes and
    top similarities; `outside` marks the out-of-scope intents (columns)."""
    return np.column_stack([
        log_odds(probabilities[:, outside].sum(axis=1)),
        log_odds(votes[:, outside].sum(axis=1)),
        similarities[:, 0],
        similarities[:, 1],
        similarities[:, 0] - similarities[:, 1],
    ])


def fit_detector(features: np.ndarray, outside: np.ndarray, c: float) -> LogisticRegression:
    """Balanced logistic regression: out of scope (True) against the shop's business."""
    detector = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
    return detector.fit(features, outside.astype(int))


def cross_validated(labels: np.ndarray, folds: int,
                    score: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    columns: int) -> np.ndarray:
    """Each example's scores from a model fitted without it: `score(fit_rows, held_rows)`
    returns the held rows' scores (`columns` wide), fold by fold (stratified, seeded)."""
    out = np.zeros((len(labels), columns))
    _, counts = np.unique(labels, return_counts=True)
    folds = max(2, min(folds, int(counts.min()))) if counts.min() >= 2 else 2
    splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
    stratify = labels if counts.min() >= folds else np.zeros(len(labels))
    for fit_rows, held_rows in splitter.split(np.zeros(len(labels)), stratify):
        out[held_rows] = score(fit_rows, held_rows)
    return out


def decide(probabilities: np.ndarray, outside_probability: np.ndarray, outside: np.ndarray,
           threshold: float) -> np.ndarray:
    """Intent probabilities after the scope decision, one row per text; the likeliest intent
    of the decided side comes first.

    Out of scope (detector probability at or above the threshold): the out-of-scope intents
    share the detector's probability in the classifier's proportions and the in-scope intents
    what is left, capped just under the likeliest out-of-scope intent (so they stay in the
    ranking as alternatives but never outrank the decision).
    In scope: the in-scope intents share the whole probability in the classifier's
    proportions and the out-of-scope intents get none, so the fallback threshold sees how
    sure the classifier is among the shop's intents."""
    out = np.zeros_like(probabilities)
    for row, (p, q) in enumerate(zip(outside_probability, probabilities)):
        inside_mass, outside_mass = q[~outside].sum(), q[outside].sum()
        if p >= threshold or inside_mass <= 0:
            shares = q[outside] / outside_mass if outside_mass > 0 else \
                np.full(int(outside.sum()), 1.0 / outside.sum())
            out[row, outside] = p * shares
            if inside_mass > 0:
                top = out[row, outside].max()
                out[row, ~outside] = np.minimum((1.0 - p) * q[~outside] / inside_mass,
                                                0.999 * top)
        else:
            out[row, ~outside] = q[~outside] / inside_mass
    return out
