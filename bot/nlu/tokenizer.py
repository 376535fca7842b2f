"""A jieba tokenizer that normalises and length-caps the text before segmenting it."""
from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.normalize import normalize

# Message properties the InputGuard reads; they are added to the parse result.
ORIGINAL_LENGTH = "original_length"
# Set only when the text was cut: the number of characters kept.
TRUNCATED_TO = "truncated_to"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True
)
class ShopJiebaTokenizer(JiebaTokenizer):
    """JiebaTokenizer with text normalisation, a length cap and no whitespace tokens."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Add the length cap to JiebaTokenizer's defaults."""
        # Rasa has no message-size limit: 20 000 characters block the server for seconds.
        return {**JiebaTokenizer.get_default_config(), "max_chars": 500}

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Normalise training examples without moving annotated entity offsets."""
        for example in training_data.training_examples:
            text = example.get(TEXT)
            if isinstance(text, str):
                normalized = normalize(text)
                entities = example.get(ENTITIES) or []
                if not entities or len(normalized) == len(text):
                    example.set(TEXT, normalized)
                    continue
                moved = relocate(entities, text, normalized)
                if moved is not None:
                    example.set(TEXT, normalized)
                    example.set(ENTITIES, moved)
        return super().process_training_data(training_data)

    def process(self, messages: list[Message]) -> list[Message]:
        """Normalise and cap incoming messages, then tokenize them."""
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str):
                self._prepare(message, text)
        return super().process(messages)

    def _prepare(self, message: Message, text: str) -> None:
        max_chars = self._config["max_chars"]
        normalized = normalize(text)
        message.set(ORIGINAL_LENGTH, len(text), add_to_output=True)
        if len(normalized) > max_chars:
            normalized = normalized[:max_chars]
            message.set(TRUNCATED_TO, max_chars, add_to_output=True)
        message.set(TEXT, normalized)

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Segment with jieba and drop the whitespace tokens it emits (RasaHQ/rasa#7910)."""
        return [t for t in super().tokenize(message, attribute) if t.text.strip()]


def relocate(
    entities: list[dict[str, Any]], text: str, normalized: str
) -> list[dict[str, Any]] | None:
    """The annotated entities with offsets into the normalised text, found in order by their
    surface text; None when one of them did not survive normalisation unchanged."""
    moved, position = [], 0
    for entity in sorted(entities, key=lambda e: e["start"]):
        surface = text[entity["start"]:entity["end"]]
        start = normalized.find(surface, position)
        if not surface or start < 0:
            return None
        position = start + len(surface)
        moved.append({**entity, "start": start, "end": position})
    return moved
