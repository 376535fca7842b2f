"""Rasa component that labels every message calm, upset or angry with a score.

The model (bot/emotion/model.py) is trained on the project's own emotion examples, not on
the NLU data, and blended with the corpus heads of the committed artifact
bot/emotion/corpus_model.json (built by `make emotion-model` from public corpora; training the
bot never reads them). Both are stored in the model archive as JSON. The artifact's heads on
the pretrained sentence vectors (`use_vector_heads`) read the message's vector from the shared
encoder (bot/nlu/sentence_encoder.py), whose per-process cache the intent classifier, earlier
in the pipeline, has already filled for the same text.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.emotion import corpus as corpus_module
from bot.emotion import lexicon as lexicon_module
from bot.emotion import model as model_module
from bot.emotion import vector_heads as vector_heads_module
from bot.emotion.model import EmotionModel, ModelSettings

logger = logging.getLogger(__name__)

# Parse-result key (contract): {"label": "calm" | "upset" | "angry", "score": 0..1}.
EMOTION = "emotion"
ROOT = Path(__file__).resolve().parents[2]


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class EmotionClassifier(GraphComponent):
    """Adds `emotion` (label and score) to every message's parse result."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Files to train on and the model's decision thresholds."""
        defaults = ModelSettings()
        return {
            "examples_path": "bot/emotion/examples.tsv",
            "lexicon_path": "bot/emotion/lexicon.yml",
            # Corpus heads (MODEL_CARD.md); null or a missing file: the examples alone.
            "corpus_model_path": "bot/emotion/corpus_model.json",
            # Blend the artifact's sentence-vector heads too (bot/emotion/vector_heads.py).
            "use_vector_heads": defaults.use_vector_heads,
            "angry_threshold": defaults.angry_threshold,
            "upset_threshold": defaults.upset_threshold,
        }

    @staticmethod
    def required_packages() -> list[str]:
        """Packages the model needs."""
        return ["sklearn"]

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Retrain when the examples, the lexicon or the model code change, not only the
        NLU data (Rasa fingerprints only the config and this class by default)."""
        digest = hashlib.sha256()
        defaults = cls.get_default_config()
        for key in ("examples_path", "lexicon_path", "corpus_model_path"):
            value = config.get(key, defaults[key])
            path = _resolve(value) if value else None
            digest.update(path.read_bytes() if path and path.is_file() else str(path).encode())
        for module in (model_module, lexicon_module, corpus_module, vector_heads_module):
            digest.update(Path(module.__file__).read_bytes())
        return digest.hexdigest()

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: EmotionModel | None = None,
    ) -> None:
        """Keep the config and storage handles; `model` is set once trained or loaded."""
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EmotionClassifier:
        """Create an untrained component."""
        return cls(config, model_storage, resource)

    def _settings(self) -> ModelSettings:
        return ModelSettings.from_dict(self._config)

    def _fit(self) -> EmotionModel:
        corpus_path = self._config.get("corpus_model_path")
        corpus = _resolve(corpus_path) if corpus_path else None
        if corpus is not None and not corpus.is_file():
            logger.warning(f"Emotion corpus model {corpus} not found (`make emotion-model` "
                           "rebuilds it); using the written examples alone.")
            corpus = None
        return EmotionModel.train_default(
            _resolve(self._config["examples_path"]),
            _resolve(self._config["lexicon_path"]),
            self._settings(),
            corpus,
        )

    def train(self, training_data: TrainingData) -> Resource:
        """Fit the model on the emotion examples (Rasa's NLU data is not used) and persist it."""
        self._model = self._fit()
        with self._model_storage.write_to(self._resource) as directory:
            self._model.save(directory)
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> EmotionClassifier:
        """Restore the trained model from model storage."""
        try:
            with model_storage.read_from(resource) as directory:
                model = EmotionModel.load(directory)
        except (ValueError, FileNotFoundError) as error:
            # Every message must carry an emotion: refit from the files rather than go without.
            logger.warning(f"Emotion model not found in storage ({error}); training it now.")
            model = None
        component = cls(config, model_storage, resource, model)
        if component._model is None:
            component._model = component._fit()
        return component

    def process(self, messages: list[Message]) -> list[Message]:
        """Set `emotion` on every message (calm with score 0 when there is no text)."""
        if self._model is None:
            self._model = self._fit()
        texts = [_text(message) for message in messages]
        for message, (label, score) in zip(messages, self._model.predict_many(texts)):
            message.set(EMOTION, {"label": label, "score": round(score, 3)}, add_to_output=True)
        return messages


def _text(message: Message) -> str:
    text = message.get(TEXT)
    return text if isinstance(text, str) else ""


def _resolve(path: str | Path) -> Path:
    """A configured path as given if it exists (relative to the working directory), else
    relative to the project root."""
    path = Path(path)
    return path if path.is_absolute() or path.exists() else ROOT / path
