"""Questions about a credit line itself are out of scope, not payment problems.

The shop accepts 花呗, 白条 and credit cards at checkout but does not run them, so "花呗怎么提额"
or "借呗还款扣了两次" belongs to the credit provider (topic out_of_scope), while "花呗付不了" is
the shop's payment problem. The classifier confuses the two because they share every word
but one; the rule is simple to state, so it is stated once in `bot/nlu/credit_lines.yml`: a
message the classifier put in a payment journey, that names a credit product and has no cue of
a purchase in the shop, is out of scope.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.normalize import normalize

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
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


class RuleGuard(GraphComponent):
    """A non-trainable component that lets word-list rules overrule the intent classifier.

    Subclasses name their rules type (with `load(path)` and `overrule(intent, ranking,
    text)`) and the default rules file.
    """

    rules_type: Any = None
    default_rules_path: str = ""

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        """Where the word lists are."""
        return {"rules_path": cls.default_rules_path}

    def __init__(self, rules: Any) -> None:
        """Keep the compiled rules."""
        self._rules = rules

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RuleGuard:
        """Read the rules file named in the config."""
        return cls(cls.rules_type.load(config.get("rules_path") or cls.default_rules_path))

    def process(self, messages: list[Message]) -> list[Message]:
        """Overrule the classifier where the rules say so."""
        for message in messages:
            text = message.get(TEXT)
            intent = message.get(INTENT)
            if not isinstance(text, str) or not isinstance(intent, dict):
                continue
            result = self._rules.overrule(intent, message.get(INTENT_RANKING_KEY) or [], text)
            if result:
                logger.debug("%s: %r was %s", type(self).__name__, text[:50], intent)
                message.set(INTENT, result[0], add_to_output=True)
                message.set(INTENT_RANKING_KEY, result[1], add_to_output=True)
        return messages


def promote(intent: dict[str, Any], ranking: list[dict[str, Any]],
            target: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The intent and ranking with `target` on top in place of the classifier's intent.

    The target takes the top intent's confidence and the two swap places in the ranking, so
    thresholds further down the pipeline see the same confidence as before.
    """
    top = float(intent.get("confidence") or 0.0)
    previous = next((float(r.get("confidence") or 0.0) for r in ranking
                     if r.get("name") == target), 0.0)
    swapped = [
        {**r, "confidence": previous} if r.get("name") == intent.get("name") else r
        for r in ranking if r.get("name") != target
    ]
    if not any(r.get("name") == intent.get("name") for r in swapped):
        swapped.append({"name": intent.get("name"), "confidence": previous})
    swapped.append({"name": target, "confidence": top})
    swapped.sort(key=lambda r: float(r.get("confidence") or 0.0), reverse=True)
    return {"name": target, "confidence": top}, swapped


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class CreditLineGuard(RuleGuard):
    """Moves questions about a credit line from the payment journeys to out_of_scope."""

    rules_type = CreditLineRules
    default_rules_path = RULES_FILE


def read_rules(path: str | Path) -> dict[str, Any]:
    """A rules YAML file; a relative path is tried from the working directory, then the root."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = ROOT / path
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def words(data: dict[str, Any], key: str) -> list[str]:
    """One word list of a rules file (missing or empty: an empty list)."""
    return [str(w) for w in data.get(key) or []]


def alternation(words: list[str]) -> re.Pattern[str]:
    ordered = sorted({w.lower() for w in words if w}, key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in ordered))
