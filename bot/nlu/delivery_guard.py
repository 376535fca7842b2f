"""A parcel that shows delivered but was not received is a delivery problem, not a status
question. The customer says both things at once (「显示签收了 东西到哪了」); the intent
classifier weighs the words one by one and the where-is-it words win. The rule is stated once
in `bot/nlu/delivered_not_received.yml`: an order-status message that states a delivered or
completed status and says the goods are missing goes to the delivery-problem journey.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from bot.nlu.normalize import normalize
from bot.nlu.rule_guard import RuleGuard, alternation, promote, read_rules, words

RULES_FILE = "bot/nlu/delivered_not_received.yml"


class DeliveredNotReceivedRules:
    """Which order-status messages say "it shows delivered, but I don't have it"."""

    def __init__(self, delivered_status: list[str], not_received: list[str],
                 status_questions: list[str], intents: list[str], target: str) -> None:
        """Compile the word lists (matched inside words, case-insensitive)."""
        if not delivered_status or not not_received or not intents or not target:
            raise ValueError("delivered_not_received: every list and the target must be set")
        self.intents = frozenset(intents)
        self.target = target
        self._delivered = alternation(delivered_status)
        self._missing = alternation(not_received)
        self._question = alternation(status_questions) if status_questions else None

    @classmethod
    def load(cls, path: str | Path = RULES_FILE) -> DeliveredNotReceivedRules:
        """Read the rules YAML (relative paths from the working directory or project root)."""
        data = read_rules(path)
        return cls(words(data, "delivered_status"), words(data, "not_received"),
                   words(data, "status_questions"), words(data, "intents"),
                   str(data.get("target") or ""))

    def delivered_but_missing(self, text: str) -> bool:
        """Whether the text states a delivered status and says the goods are not there."""
        prepared = normalize(text or "").lower()
        if self._question and self._question.search(prepared):
            return False
        return bool(self._delivered.search(prepared) and self._missing.search(prepared))

    def overrule(self, intent: dict[str, Any], ranking: list[dict[str, Any]],
                 text: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The intent and ranking with the delivery problem on top, or None to keep them."""
        if intent.get("name") not in self.intents or not self.delivered_but_missing(text):
            return None
        return promote(intent, ranking, self.target)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class DeliveredNotReceivedGuard(RuleGuard):
    """Moves "shows delivered, but I don't have it" from order status to delivery problems."""

    rules_type = DeliveredNotReceivedRules
    default_rules_path = RULES_FILE
