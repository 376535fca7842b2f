"""FAQ retrieval with character n-gram TF-IDF plus pretrained sentence vectors
(`bot.nlu.sentence_encoder`), and logistic regression.

Replaces Rasa's ResponseSelector for the `faq` retrieval intent: on this shop's held-out
phrasings it finds the right entry far more often (see docs/evaluation.md, `make eval-faq`), and it
trains in seconds. Its output has the ResponseSelector's shape, so Rasa's processor and the
actions read it the same way: parse["response_selector"]["faq"]["response"|"ranking"].
"""
from __future__ import annotations

import logging
from typing import Any

import joblib
import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot.nlu.linear import predict_proba
from bot.nlu.normalize import classifier_text
from bot.nlu.other_request import OTHER_REQUEST, find_other_request
from bot.nlu.sentence_encoder import vector_mean, with_sentence_vectors

logger = logging.getLogger(__name__)

RESPONSE_SELECTOR = "response_selector"
MODEL_FILE = "faq_retriever.joblib"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class FaqRetriever(GraphComponent):
    """Ranks the entries of a retrieval intent for every message."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Defaults chosen with `make eval-faq` on the held-out phrasings."""
        return {
            "retrieval_intent": "faq",
            "min_ngram": 1,
            "max_ngram": 3,
            # Inverse regularisation of the logistic regression.
            "C": 20.0,
            # Weight of the centred sentence vector beside the unit-length TF-IDF vector
            # (0 turns the vectors off). Right entry first on held-out phrasings: 83.5% at 0,
            # 90.9% at 2, 93.0% at 3.
            "sentence_vector_weight": 3.0,
            "ranking_length": 10,
            # Two FAQ questions of different topics in one message (「能退吗 还有积分怎么没了」):
            # the intent classifier sees one FAQ intent, so the retriever names the second
            # one `other_request` when its entry is at least this likely (null: off).
            "other_request_threshold": 0.5,
            "topics_path": "bot/topics.yml",
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: dict[str, Any] | None = None,
        responses: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        """Keep the fitted model (vectorizer, classifier, vector mean) and every answer."""
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        self._responses = responses or {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> FaqRetriever:
        """Create an untrained component."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Fit on the examples of the retrieval intent and persist the result."""
        intent = self._config["retrieval_intent"]
        texts, labels = [], []
        for example in training_data.intent_examples:
            if example.get(INTENT) == intent and example.get(INTENT_RESPONSE_KEY):
                texts.append(example.get(TEXT))
                labels.append(example.get(INTENT_RESPONSE_KEY))
        if len(set(labels)) < 2:
            logger.warning(f"FaqRetriever: fewer than two '{intent}' entries, nothing to learn")
            return self._resource
        vectorizer = TfidfVectorizer(
            analyzer="char",
            ngram_range=(self._config["min_ngram"], self._config["max_ngram"]),
            sublinear_tf=True,
        )
        weight = float(self._config["sentence_vector_weight"])
        model: dict[str, Any] = {
            "vectorizer": vectorizer.fit(texts),
            "vector_weight": weight,
            "vector_mean": vector_mean(texts) if weight else np.zeros(0, dtype=np.float32),
        }
        classifier = LogisticRegression(C=self._config["C"], max_iter=3000)
        model["classifier"] = classifier.fit(self._matrix(model, texts), labels)
        self._model = model
        self._responses = {
            name: list(variants)
            for name, variants in training_data.responses.items()
            if name.startswith(f"utter_{intent}/")
        }
        stored = {"model": self._model, "responses": self._responses}
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(stored, directory / MODEL_FILE)
        return self._resource

    @staticmethod
    def _matrix(model: dict[str, Any], texts: list[str]) -> Any:
        """Classifier input: character n-grams, then the weighted sentence vector, both of
        the text as `classifier_text` gives it (no markup, pinyin read)."""
        texts = [classifier_text(text) for text in texts]
        ngrams = model["vectorizer"].transform(texts)
        return with_sentence_vectors(ngrams, texts, model["vector_mean"], model["vector_weight"])

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> FaqRetriever:
        """Restore the fitted model, or stay untrained if there was nothing to learn."""
        try:
            with model_storage.read_from(resource) as directory:
                stored = joblib.load(directory / MODEL_FILE)
        except (ValueError, FileNotFoundError):
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, stored["model"], stored["responses"])

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to the training data."""
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Add the ranking of entries, best first, in the ResponseSelector's format."""
        if self._model is None:
            return messages
        texts = [m.get(TEXT) if isinstance(m.get(TEXT), str) else "" for m in messages]
        classifier = self._model["classifier"]
        probabilities = predict_proba(classifier, self._matrix(self._model, texts))
        for message, row in zip(messages, probabilities):
            if not message.get(TEXT):
                continue
            ranked = sorted(zip(classifier.classes_, row), key=lambda kv: -kv[1])
            self._set_prediction(message, ranked[: self._config["ranking_length"]])
            self._other_faq_request(message, str(ranked[0][0]))
        return messages

    def _other_faq_request(self, message: Message, best: str) -> None:
        """For an FAQ message, a part that asks another topic's FAQ question
        (bot/nlu/other_request.py), unless the classifier already found a second request.
        A second request the classifier found in the FAQ gets its entry (faq/<key>), so it
        can be answered when the customer takes it up."""
        retrieval_intent = self._config["retrieval_intent"]
        found = message.get(OTHER_REQUEST)
        if isinstance(found, dict) and found.get("intent") == retrieval_intent:
            entry, _ = self._best_entries([str(found.get("text") or "")])[0]
            message.set(OTHER_REQUEST, {**found, "intent": entry}, add_to_output=True)
            return
        intent = (message.get(INTENT) or {}).get("name")
        if intent != retrieval_intent or found:
            return
        other = find_other_request(message.get(TEXT) or "", best, self._best_entries,
                                   self._config)
        if other:
            message.set(OTHER_REQUEST, other, add_to_output=True)

    def _best_entries(self, texts: list[str]) -> list[tuple[str, float]]:
        """The likeliest entry of each text and its probability."""
        classifier = self._model["classifier"]
        rows = predict_proba(classifier, self._matrix(self._model, texts))
        return [(str(classifier.classes_[row.argmax()]), float(row.max())) for row in rows]

    def _set_prediction(self, message: Message, ranked: list[tuple[str, float]]) -> None:
        intent = self._config["retrieval_intent"]
        best, confidence = ranked[0]
        prediction = {
            "response": {
                "responses": self._responses.get(f"utter_{best}", []),
                "confidence": float(confidence),
                INTENT_RESPONSE_KEY: best,
                "utter_action": f"utter_{best}",
            },
            "ranking": [
                {"id": index, "confidence": float(p), INTENT_RESPONSE_KEY: key}
                for index, (key, p) in enumerate(ranked)
            ],
        }
        selector = dict(message.get(RESPONSE_SELECTOR) or {})
        selector["all_retrieval_intents"] = [intent]
        selector[intent] = prediction
        message.set(RESPONSE_SELECTOR, selector, add_to_output=True)
