"""Turns messages that cannot be understood as words into nlu_fallback with a reason."""
from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.normalize import has_words, strip_markup
from bot.nlu.other_request import OTHER_REQUEST
from bot.nlu.tokenizer import TRUNCATED_TO

# Script and style elements with their content, then any other tag: what is left of a message
# that is only web markup (「<script>alert(1)</script>」, 「<img src=x onerror=...>」) is nothing.

# Parse-result key the fallback action reads to explain what was wrong with the message.
INPUT_ISSUE = "input_issue"
# Trained intent for keyboard mashes: recognised, then treated as not understood.
NONSENSE_INTENT = "nonsense"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class InputGuard(GraphComponent):
    """Marks empty, wordless (emoji, punctuation), over-long and nonsense messages as not
    understood.

    DIET is confidently wrong on such input, so the intent is replaced by nlu_fallback;
    `input_issue` says why: "empty", "no_text", "markup" (only web markup, no words outside its
    tags) or "too_long" (absent for nonsense).
    """

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> InputGuard:
        """Create the component (it has no state)."""
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        """Flag the messages that carry no understandable words."""
        for message in messages:
            issue = self._issue(message)
            if issue:
                message.set(INPUT_ISSUE, issue, add_to_output=True)
            intent = message.get(INTENT) or {}
            if issue or intent.get("name") == NONSENSE_INTENT:
                message.set(
                    INTENT,
                    {"name": DEFAULT_NLU_FALLBACK_INTENT_NAME, "confidence": 1.0},
                    add_to_output=True,
                )
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
                # Nothing of a message the bot did not read is offered again later.
                if message.get(OTHER_REQUEST):
                    message.set(OTHER_REQUEST, None, add_to_output=True)
        return messages

    @staticmethod
    def _issue(message: Message) -> str | None:
        text = message.get(TEXT)
        if not isinstance(text, str):
            return None
        if message.get(TRUNCATED_TO):
            return "too_long"
        if not text:
            return "empty"
        if not has_words(text):
            return "no_text"
        if only_markup(text):
            return "markup"
        return None


def only_markup(text: str) -> bool:
    """Whether the message is web markup with no words outside its tags."""
    stripped = strip_markup(text)
    return stripped != text and not has_words(stripped)
