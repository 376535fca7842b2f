"""Fast experiments on the out-of-scope decision, on the study set, without retraining Rasa.

Usage: python -m evaluation.scope_experiments MODEL [--cache /tmp/oos_cache] [--folds 5]
       [--set all|detector|binary|component|calibration|ensemble|priors|fallback]

Issue #20 asks for out of scope as a decision of its own (an in-scope detector, calibrated
rejection, per-topic thresholds) rather than one intent among thirty, and for ensembles of the
n-gram and vector views; `priors` replays the label-shift correction to real traffic's topic
mix (bot/nlu/topic_priors.py). Each variant here is scored in seconds:

- the trained model's intent classifier (its fitted TF-IDF, logistic regression and
  nearest-neighbour index, read from the model archive) gives the study messages' intent
  probabilities; its FAQ retriever pick and the input guard's verdict come from one full parse
  of every study message, cached;
- cross-validated probabilities of the training examples (the classifier refitted per fold on
  the same features, cached) are what calibrations and stacked models are fitted on, so no
  study label is ever fitted on; only thresholds are chosen, on the working half;
- the rest of the pipeline after the classifier is replayed: the credit-line and delivery
  guards, the fallback threshold (nlu_fallback counts as out of scope) and the input guard.

Sentence vectors of training and study texts are cached (e5 costs ~20 ms a message).
The working half (even ids) gets every figure; the held-out half (odd ids) is printed as
totals only, as evaluation/study.py does. No message text is ever printed.
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from bot.nlu.credit_guard import CreditLineRules
from bot.nlu.delivery_guard import DeliveryProblemRules
from bot.nlu.intent_classifier import (
    ShopIntentClassifier,
    neighbour_votes,
    unit_rows,
)
from bot.nlu.linear import predict_proba
from bot.nlu.normalize import classifier_text, normalize
from bot.nlu.sentence_encoder import SentenceEncoder
from bot.nlu.topic_priors import PriorCorrection
from evaluation import scope_detector as scope
from evaluation.study import (
    HELDOUT,
    MESSAGES_FILE,
    TOPIC_LABELS,
    WORKING,
    half_of,
    out_of_scope,
    read_labels,
    read_messages,
)
from evaluation.topics import (
    FALLBACK_INTENT,
    FALLBACK_TOPIC,
    ROOT,
    Prediction,
    Row,
    load_topic_map,
    score,
    topic_of,
)

FALLBACK_THRESHOLD = 0.15  # FallbackClassifier threshold in config.yml
MAX_CHARS = 500


# --- data -----------------------------------------------------------------------------------


def training_examples() -> tuple[list[str], list[str], list[str]]:
    """Texts (normalised as the tokenizer does), intents and full intents (faq/<entry>)."""
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"), str(ROOT / "domain"), [str(ROOT / "bot" / "data")])
    data = importer.get_nlu_data()
    texts, labels, answers = [], [], []
    for example in data.intent_examples:
        texts.append(normalize(example.get("text") or ""))
        labels.append(example.get("intent"))
        answers.append(example.get_full_intent())
    return texts, labels, answers


def model_component(model: Path, cache: Path, file_name: str) -> Any:
    """A component's joblib file from the model archive (extracted once into the cache)."""
    target = cache / "model"
    if not target.exists():
        with tarfile.open(model) as archive:
            archive.extractall(target)
    found = sorted(target.rglob(file_name))
    if not found:
        raise FileNotFoundError(f"{file_name} not in {model}")
    return joblib.load(found[0])


def study_parses(model: Path, cache: Path, texts: Sequence[str]) -> dict[str, dict[str, Any]]:
    """What the full model makes of each study text that the replay needs: the FAQ entry the
    retriever picked, the input guard's verdict and the intent (cached in `parses.json`)."""
    path = cache / "parses.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    from evaluation.topics import load_parser

    parse = load_parser(str(model))
    out = {}
    for number, text in enumerate(dict.fromkeys(texts), start=1):
        result = parse(text)
        selector = (result.get("response_selector") or {}).get("faq") or {}
        out[text] = {
            "faq": (selector.get("response") or {}).get("intent_response_key"),
            "input_issue": result.get("input_issue"),
            "intent": (result.get("intent") or {}).get("name"),
        }
        if number % 500 == 0:
            print(f"  parsed {number}", file=sys.stderr)
    path.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    return out


def load_vectors(cache: Path, texts: Sequence[str]) -> None:
    """Fill the shared encoder's cache from disk, encode what is missing, save it back."""
    encoder = SentenceEncoder.shared()
    path = cache / "vectors.pkl"
    if path.exists():
        encoder._cache.update(pickle.loads(path.read_bytes()))
    missing = [t for t in texts if (t or "").strip()[:200] not in encoder._cache]
    if missing:
        print(f"  encoding {len(missing)} texts", file=sys.stderr)
        encoder.encode(missing)
        path.write_bytes(pickle.dumps(dict(encoder._cache)))


# --- the classifier's probabilities -----------------------------------------------------------


@dataclass
class Setup:
    """Everything the variants need, computed once."""

    classes: np.ndarray
    topic_map: dict[str, str]
    train_labels: np.ndarray       # class index per training example
    train_lr_cv: np.ndarray        # cross-validated LR probabilities of the training examples
    train_knn_cv: np.ndarray       # cross-validated neighbour votes of the training examples
    study_lr: np.ndarray           # the model's LR probabilities of the study texts
    study_knn: np.ndarray          # the model's neighbour votes of the study texts
    study_ids: list[str]
    study_topics: list[str]
    study_texts: list[str]         # as the classifier receives them (normalised, capped)
    study_sources: list[str]
    parses: dict[str, dict[str, Any]]
    train_sims: np.ndarray         # per training example: max cosine to in-scope / OOS (CV)
    study_sims: np.ndarray
    x_train: Any = None
    x_study: Any = None
    cache: Path | None = None


def knn_settings() -> tuple[int, float]:
    config = ShopIntentClassifier.get_default_config()
    return int(config["knn_k"]), float(config["knn_temperature"])


def prepare(model: Path, cache: Path, folds: int, messages_path: Path = MESSAGES_FILE) -> Setup:
    """Load or compute every cached piece."""
    cache.mkdir(parents=True, exist_ok=True)
    intent_model = model_component(model, cache, "intent_classifier.joblib")
    classes = intent_model["classifier"].classes_
    index = {name: i for i, name in enumerate(classes)}
    texts, labels, answers = training_examples()
    messages = read_messages(messages_path)
    labelled = read_labels(TOPIC_LABELS)
    from evaluation.topics import TOPICS

    ids = sorted(i for i, topic in labelled.items() if topic in TOPICS)
    study_texts = [normalize(messages[i].text)[:MAX_CHARS] for i in ids]
    load_vectors(cache, [classifier_text(t) for t in [*texts, *study_texts]])
    parses = study_parses(model, cache, [messages[i].text for i in ids])
    parses = {normalize(text)[:MAX_CHARS]: value for text, value in parses.items()}

    from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer

    # The word features need the shop dictionary the tokenizer loads into jieba.
    JiebaTokenizer._load_custom_dictionary(str(ROOT / "bot" / "dictionary"))
    classifier = ShopIntentClassifier(ShopIntentClassifier.get_default_config(), None, None,
                                      intent_model)
    x_train = classifier._matrix(intent_model, texts)
    x_study = classifier._matrix(intent_model, study_texts)
    k, temperature = knn_settings()
    study_lr = predict_proba(intent_model["classifier"], x_study)
    study_vectors = unit_rows(SentenceEncoder.shared().encode(
        [classifier_text(t) for t in study_texts]))
    study_knn = neighbour_votes(study_vectors, intent_model["knn_vectors"],
                                intent_model["knn_labels"], len(classes), k, temperature)
    y = np.array([index[label] for label in labels])
    train_vectors = unit_rows(SentenceEncoder.shared().encode(
        [classifier_text(t) for t in texts]))
    topic_map = load_topic_map()
    oos_class = np.array([topic_map.get(c) == FALLBACK_TOPIC for c in classes])

    cv_path = cache / f"cv{folds}.npz"
    if cv_path.exists():
        stored = np.load(cv_path)
        lr_cv, knn_cv, sims_cv = stored["lr"], stored["knn"], stored["sims"]
    else:
        lr_cv = np.zeros((len(texts), len(classes)))
        knn_cv = np.zeros_like(lr_cv)
        sims_cv = np.zeros((len(texts), 2))
        weights = classifier._sample_weights(labels, answers)
        splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
        for fold, (fit, held) in enumerate(splitter.split(texts, y), start=1):
            started = time.monotonic()
            lr = LogisticRegression(C=classifier._config["C"], max_iter=3000)
            fold_weights = None if weights is None else weights[fit]
            lr.fit(x_train[fit], y[fit], sample_weight=fold_weights)
            probabilities = np.zeros((len(held), len(classes)))
            probabilities[:, lr.classes_] = lr.predict_proba(x_train[held])
            lr_cv[held] = probabilities
            knn_cv[held] = neighbour_votes(train_vectors[held], train_vectors[fit], y[fit],
                                           len(classes), k, temperature)
            sims_cv[held] = scope.top_similarities(train_vectors[held], train_vectors[fit],
                                             oos_class[y[fit]])
            print(f"  fold {fold}/{folds}: {time.monotonic() - started:.0f} s", file=sys.stderr)
        np.savez(cv_path, lr=lr_cv, knn=knn_cv, sims=sims_cv)
    study_sims = scope.top_similarities(study_vectors, train_vectors, oos_class[y])
    return Setup(classes, topic_map, y, lr_cv, knn_cv, study_lr, study_knn, ids,
                 [labelled[i] for i in ids], study_texts,
                 [messages[i].source for i in ids], parses, sims_cv, study_sims,
                 x_train, x_study, cache)


# --- replaying the pipeline after the classifier ------------------------------------------------


class Replay:
    """The pipeline after the intent classifier: guards, fallback threshold, input guard."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.credit = CreditLineRules.load()
        self.delivery = DeliveryProblemRules.load()

    def topics(self, intents: Sequence[str], confidences: Sequence[float],
               fallback: float = FALLBACK_THRESHOLD) -> list[Prediction]:
        """Predictions of the study rows for the classifier's intent and confidence."""
        s = self.setup
        out = []
        for ident, gold, text, source, intent, confidence in zip(
                s.study_ids, s.study_topics, s.study_texts, s.study_sources, intents,
                confidences):
            current = {"name": intent, "confidence": float(confidence)}
            ranking = [current]
            for rules in (self.credit, self.delivery):
                result = rules.overrule(current, ranking, text)
                if result:
                    current, ranking = result
            name = current["name"]
            parse = s.parses.get(text) or {}
            if float(current["confidence"]) < fallback or parse.get("input_issue"):
                name = FALLBACK_INTENT
            elif name == "faq" and parse.get("faq"):
                name = parse["faq"]
            out.append(Prediction(Row(ident, gold, "", source), name, float(confidence),
                                  topic_of(name, s.topic_map)))
        return out


@dataclass
class Figures:
    """Headline figures of one half."""

    n: int
    accuracy: float
    macro_f1: float
    oos_recall: float
    rejected: float
    correct: int
    caught: int
    gold_oos: int
    wrongly_rejected: int
    in_scope: int

    def line(self) -> str:
        return (f"{self.accuracy:6.1%} ({self.correct}/{self.n}) F1 {self.macro_f1:.3f} "
                f"OOS {self.oos_recall:5.1%} ({self.caught}/{self.gold_oos}) "
                f"rej {self.rejected:4.1%} ({self.wrongly_rejected}/{self.in_scope})")


def figures(predictions: Sequence[Prediction], half: str) -> Figures:
    part = [p for p in predictions if half_of(p.row.id) == half]
    scores = score(part)
    oos = out_of_scope(part)
    return Figures(scores.n, scores.accuracy, scores.macro_f1, oos.recall,
                   oos.wrongful_rejection, sum(p.correct for p in part), oos.caught,
                   oos.gold_oos, oos.rejected, oos.in_scope)


# --- variants ----------------------------------------------------------------------------------

Decide = Callable[[Setup], tuple[list[str], np.ndarray]]


def mixed(lr: np.ndarray, knn: np.ndarray, weight: float = 0.4) -> np.ndarray:
    return (1.0 - weight) * lr + weight * knn


def baseline(s: Setup) -> tuple[list[str], np.ndarray]:
    """Today's component: argmax of the mixed probabilities."""
    p = mixed(s.study_lr, s.study_knn)
    return [str(s.classes[i]) for i in p.argmax(1)], p.max(1)


def positive_classes(s: Setup, group: str) -> np.ndarray:
    """Classes the detector counts as 'not the shop's business'."""
    topics = {"oos": {FALLBACK_TOPIC}, "oos+greeting": {FALLBACK_TOPIC, "greeting"}}[group]
    return np.array([s.topic_map.get(c) in topics for c in s.classes])


def detector_features(probabilities: np.ndarray, knn: np.ndarray, sims: np.ndarray,
                      positive: np.ndarray, kind: str) -> np.ndarray:
    """Inputs of the stacked scope detector."""
    eps = 1e-6
    mass = probabilities[:, positive].sum(1)
    knn_mass = knn[:, positive].sum(1)
    logit = np.log((mass + eps) / (1 - mass + eps))
    columns = [logit]
    if "knn" in kind:
        columns.append(np.log((knn_mass + eps) / (1 - knn_mass + eps)))
    if "sims" in kind:
        columns += [sims[:, 0], sims[:, 1], sims[:, 0] - sims[:, 1]]
    if "top" in kind:
        columns.append(probabilities[:, ~positive].max(1))
    return np.column_stack(columns)


def scope_detector(group: str, kind: str, threshold: float, renormalise: bool = True,
                   c: float = 1.0) -> Decide:
    """A binary in-scope detector stacked on cross-validated evidence of the training examples
    (LR mass of the out-of-scope intents, neighbour votes, nearest similarities); its
    probability decides out of scope, the intent classifier picks among the others."""

    def decide(s: Setup) -> tuple[list[str], np.ndarray]:
        positive = positive_classes(s, group)
        target = positive[s.train_labels]
        train_x = detector_features(mixed(s.train_lr_cv, s.train_knn_cv), s.train_knn_cv,
                                    s.train_sims, positive, kind)
        study_p = mixed(s.study_lr, s.study_knn)
        study_x = detector_features(study_p, s.study_knn, s.study_sims, positive, kind)
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
        model.fit(train_x, target)
        p_out = model.predict_proba(study_x)[:, 1]
        intents, confidences = [], []
        for row, p in zip(study_p, p_out):
            if p >= threshold:
                inside = np.where(positive, row, -1)
                intents.append(str(s.classes[inside.argmax()]))
                confidences.append(max(p, FALLBACK_THRESHOLD))
            else:
                inside = np.where(~positive, row, -1)
                best = inside.argmax()
                conf = row[best] / row[~positive].sum() if renormalise else row[best]
                intents.append(str(s.classes[best]))
                confidences.append(conf)
        return intents, np.array(confidences)

    return decide


def component_detector(threshold: float, c: float = 1.0) -> Decide:
    """The detector exactly as `bot.nlu.scope` builds it in the intent classifier."""

    def decide(s: Setup) -> tuple[list[str], np.ndarray]:
        outside = positive_classes(s, "oos")
        train_x = scope.detector_features(mixed(s.train_lr_cv, s.train_knn_cv), s.train_knn_cv,
                                          s.train_sims, outside)
        detector = scope.fit_detector(train_x, outside[s.train_labels], c)
        study_p = mixed(s.study_lr, s.study_knn)
        p_out = detector.predict_proba(
            scope.detector_features(study_p, s.study_knn, s.study_sims, outside))[:, 1]
        decided = scope.decide(study_p, p_out, outside, threshold)
        return [str(s.classes[i]) for i in decided.argmax(1)], decided.max(1)

    return decide


def binary_scores(s: Setup, c: float) -> tuple[np.ndarray, np.ndarray]:
    """A binary logistic regression (out-of-scope intents against the rest, balanced) on the
    classifier's own features: cross-validated log-odds of the training examples and the
    log-odds of the study texts (cached per C)."""
    outside = positive_classes(s, "oos")
    target = outside[s.train_labels].astype(int)
    path = s.cache / f"binary_C{c}.npz"
    if path.exists():
        stored = np.load(path)
        return stored["train"], stored["study"]
    train = np.zeros(len(target))
    splitter = StratifiedKFold(5, shuffle=True, random_state=0)
    for fit, held in splitter.split(np.zeros(len(target)), s.train_labels):
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
        model.fit(s.x_train[fit], target[fit])
        train[held] = model.decision_function(s.x_train[held])
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
    model.fit(s.x_train, target)
    study = model.decision_function(s.x_study)
    np.savez(path, train=train, study=study)
    return train, study


def binary_detector(c: float, threshold: float, stacked: bool) -> Decide:
    """The binary classifier's probability (Platt-calibrated on its cross-validated scores,
    or stacked with the multi-class evidence) decides out of scope."""

    def decide(s: Setup) -> tuple[list[str], np.ndarray]:
        outside = positive_classes(s, "oos")
        train_score, study_score = binary_scores(s, c)
        train_p = mixed(s.train_lr_cv, s.train_knn_cv)
        study_p = mixed(s.study_lr, s.study_knn)
        train_x, study_x = train_score[:, None], study_score[:, None]
        if stacked:
            train_x = np.hstack([train_x, scope.detector_features(
                train_p, s.train_knn_cv, s.train_sims, outside)])
            study_x = np.hstack([study_x, scope.detector_features(
                study_p, s.study_knn, s.study_sims, outside)])
        platt = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
        platt.fit(train_x, outside[s.train_labels])
        p_out = platt.predict_proba(study_x)[:, 1]
        decided = scope.decide(study_p, p_out, outside, threshold)
        return [str(s.classes[i]) for i in decided.argmax(1)], decided.max(1)

    return decide


def vector_view(s: Setup, c: float) -> tuple[np.ndarray, np.ndarray]:
    """A logistic regression on the sentence vectors alone (the vector view): cross-validated
    probabilities of the training examples and probabilities of the study texts (cached)."""
    path = s.cache / f"vectors_C{c}.npz"
    if path.exists():
        stored = np.load(path)
        return stored["train"], stored["study"]
    n = len(s.classes)
    dense_train = s.x_train[:, -384:].toarray()
    dense_study = s.x_study[:, -384:].toarray()
    train = np.zeros((len(s.train_labels), n))
    splitter = StratifiedKFold(5, shuffle=True, random_state=0)
    for fit, held in splitter.split(dense_train, s.train_labels):
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
        model.fit(dense_train[fit], s.train_labels[fit])
        train[np.ix_(held, model.classes_)] = model.predict_proba(dense_train[held])
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
    model.fit(dense_train, s.train_labels)
    study = np.zeros((len(dense_study), n))
    study[:, model.classes_] = model.predict_proba(dense_study)
    np.savez(path, train=train, study=study)
    return train, study


def stacked_views(c_vector: float, c_stack: float) -> Decide:
    """A multinomial logistic regression over the log-probabilities of the combined n-gram +
    vector classifier, the vector-only classifier and the neighbour votes, fitted on their
    cross-validated outputs for the training examples."""

    def decide(s: Setup) -> tuple[list[str], np.ndarray]:
        vec_train, vec_study = vector_view(s, c_vector)

        def inputs(lr: np.ndarray, vec: np.ndarray, knn: np.ndarray) -> np.ndarray:
            return np.hstack([np.log(np.clip(m, 1e-4, 1)) for m in (lr, vec, knn)])

        stack = LogisticRegression(C=c_stack, max_iter=3000)
        stack.fit(inputs(s.train_lr_cv, vec_train, s.train_knn_cv), s.train_labels)
        p = np.zeros((len(vec_study), len(s.classes)))
        p[:, stack.classes_] = stack.predict_proba(inputs(s.study_lr, vec_study, s.study_knn))
        return [str(s.classes[i]) for i in p.argmax(1)], p.max(1)

    return decide


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Temperature minimising the log loss of probabilities**(1/T) renormalised."""
    logp = np.log(np.clip(probabilities, 1e-9, 1))
    best, best_loss = 1.0, np.inf
    for temperature in np.exp(np.linspace(np.log(0.3), np.log(5), 60)):
        scaled = logp / temperature
        scaled -= scaled.max(1, keepdims=True)
        log_norm = np.log(np.exp(scaled).sum(1))
        loss = -(scaled[np.arange(len(labels)), labels] - log_norm).mean()
        if loss < best_loss:
            best, best_loss = temperature, loss
    return float(best)


def calibrated(threshold: float, per_topic: dict[str, float] | None = None) -> Decide:
    """Temperature-calibrated mixed probabilities (T from cross-validation on the training
    examples); a top intent under the (per-topic) minimum confidence becomes nlu_fallback."""

    def decide(s: Setup) -> tuple[list[str], np.ndarray]:
        temperature = fit_temperature(mixed(s.train_lr_cv, s.train_knn_cv), s.train_labels)
        p = mixed(s.study_lr, s.study_knn)
        logp = np.log(np.clip(p, 1e-9, 1)) / temperature
        q = np.exp(logp - logp.max(1, keepdims=True))
        q /= q.sum(1, keepdims=True)
        intents = [str(s.classes[i]) for i in q.argmax(1)]
        confidences = q.max(1).copy()
        for row, intent in enumerate(intents):
            minimum = (per_topic or {}).get(s.topic_map.get(intent, ""), threshold)
            if confidences[row] < minimum:
                confidences[row] = 0.0
        return intents, confidences

    return decide


def fallback_at(threshold: float) -> Decide:
    """Today's component with another fallback threshold (confidences under it -> 0)."""

    def decide(s: Setup) -> tuple[list[str], np.ndarray]:
        intents, confidences = baseline(s)
        # Replay applies 0.2: lift what this threshold accepts above it.
        return intents, np.where(confidences < threshold, 0.0,
                                 np.maximum(confidences, FALLBACK_THRESHOLD))

    return decide


def working_priors(s: Setup) -> dict[str, float]:
    """Each topic's share of the working half's labels (even ids only): real traffic's mix."""
    counts: dict[str, int] = {}
    for ident, topic in zip(s.study_ids, s.study_topics):
        if half_of(ident) == WORKING:
            counts[topic] = counts.get(topic, 0) + 1
    total = sum(counts.values())
    return {topic: n / total for topic, n in counts.items()}


def prior_corrected(alpha: float, oos_gain: float = 1.0) -> Decide:
    """The classifier's prior correction (bot/nlu/topic_priors.py) with the working half's topic
    shares: in-scope intents reweighted among themselves by (share / uniform) ** alpha, the
    out-of-scope ones times `oos_gain`."""

    def decide(s: Setup) -> tuple[list[str], np.ndarray]:
        correction = PriorCorrection.build([str(c) for c in s.classes], s.topic_map,
                                           working_priors(s), alpha, oos_gain)
        q = correction.apply(mixed(s.study_lr, s.study_knn))
        return [str(s.classes[i]) for i in q.argmax(1)], q.max(1)

    return decide


def full_priors(alpha: float) -> Decide:
    """Bayes' rule on every intent, out of scope included ((share / uniform) ** alpha, a topic's
    share split over its intents; the FAQ intent, which has no single topic, at the floor)."""

    def decide(s: Setup) -> tuple[list[str], np.ndarray]:
        priors = working_priors(s)
        topics = [s.topic_map.get(str(c), FALLBACK_TOPIC) for c in s.classes]
        per_topic = {t: topics.count(t) for t in set(topics)}
        real = np.array([max(priors.get(t, 0.0), 0.005) / per_topic[t] for t in topics])
        q = mixed(s.study_lr, s.study_knn) * (real * len(s.classes)) ** alpha
        q /= q.sum(1, keepdims=True)
        return [str(s.classes[i]) for i in q.argmax(1)], q.max(1)

    return decide


def per_topic_search(setup: Setup, base: float = FALLBACK_THRESHOLD,
                     grid: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5)) -> dict[str, float]:
    """Per-topic minimum confidences (of the temperature-calibrated top intent), chosen by
    coordinate ascent on the working half's accuracy, without rejecting more in-scope
    messages there than the global threshold does."""
    replay = Replay(setup)
    topics = sorted({t for t in setup.topic_map.values()} - {FALLBACK_TOPIC})

    def working(per_topic: dict[str, float]) -> Figures:
        intents, confidences = calibrated(base, per_topic)(setup)
        return figures(replay.topics(intents, confidences), WORKING)

    chosen: dict[str, float] = {}
    start = working(chosen)
    best = start
    for _ in range(2):
        for topic in topics:
            for value in grid:
                trial = {**chosen, topic: value}
                result = working(trial)
                if result.correct > best.correct and \
                        result.wrongly_rejected <= start.wrongly_rejected:
                    best, chosen = result, trial
    print(f"  per-topic minimums: {chosen}", file=sys.stderr)
    return chosen


def run(setup: Setup, variants: dict[str, Decide]) -> dict[str, tuple[Figures, Figures]]:
    replay = Replay(setup)
    results = {}
    for name, decide in variants.items():
        intents, confidences = decide(setup)
        predictions = replay.topics(intents, confidences)
        working, heldout = figures(predictions, WORKING), figures(predictions, HELDOUT)
        results[name] = (working, heldout)
        print(f"{name:48s} W {working.line()} | H {heldout.line()}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/oos_cache"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--set", default="all")
    parser.add_argument("--messages", type=Path, default=MESSAGES_FILE,
                        help="the study messages (id, source, text)")
    args = parser.parse_args(argv)
    setup = prepare(args.model, args.cache, args.folds, args.messages)
    variants: dict[str, Decide] = {"baseline": baseline}
    if args.set in ("all", "detector"):
        for group in ("oos", "oos+greeting"):
            for kind in ("mass", "mass+knn", "mass+knn+sims", "mass+knn+sims+top"):
                for threshold in (0.4, 0.5, 0.6, 0.7):
                    variants[f"det {group} {kind} t{threshold}"] = scope_detector(
                        group, kind, threshold)
    if args.set in ("all", "binary"):
        for c in (1.0, 10.0):
            for stacked in (False, True):
                for threshold in (0.7, 0.75, 0.8, 0.85, 0.9):
                    variants[f"binary C{c} stacked={stacked} t{threshold}"] = binary_detector(
                        c, threshold, stacked)
    if args.set in ("all", "component"):
        for threshold in (0.75, 0.8, 0.82, 0.85, 0.88, 0.9, 0.92):
            for c in (0.1, 1.0):
                variants[f"component t{threshold} C{c}"] = component_detector(threshold, c)
    if args.set in ("all", "calibration"):
        for threshold in (0.0, 0.2, 0.25, 0.3, 0.35, 0.4):
            variants[f"temperature, min {threshold}"] = calibrated(threshold)
    if args.set in ("all", "ensemble"):
        for c_vector in (1.0, 10.0):
            for c_stack in (0.1, 1.0):
                variants[f"stacked views Cv{c_vector} Cs{c_stack}"] = stacked_views(
                    c_vector, c_stack)
    if args.set in ("all", "priors"):
        print(f"  working priors: {working_priors(setup)}", file=sys.stderr)
        for alpha in (0.25, 0.5, 0.75, 1.0):
            variants[f"priors on every intent, alpha {alpha}"] = full_priors(alpha)
            for gain in (1.0, 1.1, 1.25, 1.5):
                variants[f"in-scope priors alpha {alpha}, OOS x{gain}"] = prior_corrected(
                    alpha, gain)
    if args.set in ("all", "fallback"):
        for threshold in (0.0, 0.1, 0.15, 0.17, 0.25):
            variants[f"fallback {threshold}"] = fallback_at(threshold)
        temperature = fit_temperature(mixed(setup.train_lr_cv, setup.train_knn_cv),
                                      setup.train_labels)
        print(f"  temperature {temperature:.2f}", file=sys.stderr)
        variants["temperature, per-topic minimums"] = calibrated(
            FALLBACK_THRESHOLD, per_topic_search(setup))
    run(setup, variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
