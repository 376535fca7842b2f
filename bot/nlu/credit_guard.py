"""Questions about a credit line itself are out of scope, not payment problems.

The shop accepts 花呗, 白条 and credit cards at checkout but does not run them, so "花呗怎么提额"
or "借呗还款扣了两次" belongs to the credit provider (topic out_of_scope), while "花呗付不了" is
the shop's payment problem. The classifier confuses the two because they share every word
but one; the rule is simple to state, so it is stated once in `bot/nlu/credit_lines.yml`: a
message the classifier put in a payment journey, that names a credit product and has no cue of
a purchase in the shop, is out of scope.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from bot.nlu.normalize import normalize
from bot.nlu.rule_guard import RuleGuard, alternation, promote, read_rules, words

RULES_FILE = "bot/nlu/credit_lines.yml"
OUT_OF_SCOPE = "out_of_scope"


class CreditLineRules:
    """Which messages are about a credit line rather than paying the shop."""

    def __init__(self, credit_products: list[str], purchase_cues: list[str],
                 intents: list[str]) -> None:
        """Compile the word lists (matched inside words, case-insensitive)."""
        if not credit_products or not intents:
            raise ValueError("credit_lines: credit_products and intents must not be empty")
        self.intents = frozenset(intents)
        self._credit = alternation(credit_products)
        self._purchase = alternation(purchase_cues) if purchase_cues else None

    @classmethod
    def load(cls, path: str | Path = RULES_FILE) -> CreditLineRules:
        """Read the rules YAML (relative paths from the working directory or project root)."""
        data = read_rules(path)
        return cls(words(data, "credit_products"), words(data, "purchase_cues"),
                   words(data, "intents"))

    def about_credit_line(self, text: str) -> bool:
        """Whether the text names a credit product without any cue of a purchase here."""
        prepared = normalize(text or "").lower()
        if not self._credit.search(prepared):
            return False
        return not (self._purchase and self._purchase.search(prepared))

    def overrule(self, intent: dict[str, Any], ranking: list[dict[str, Any]],
                 text: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The intent and ranking with out_of_scope on top, or None to keep the classifier's.

        out_of_scope takes the top intent's confidence and the two swap places in the
        ranking, so thresholds further down the pipeline see the same confidence as before.
        """
        if intent.get("name") not in self.intents or not self.about_credit_line(text):
            return None
        return promote(intent, ranking, OUT_OF_SCOPE)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class CreditLineGuard(RuleGuard):
    """Moves questions about a credit line from the payment journeys to out_of_scope."""

    rules_type = CreditLineRules
    default_rules_path = RULES_FILE
