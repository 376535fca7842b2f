"""Word-list rules that overrule the intent classifier where a linear model cannot follow.

A rules class reads its YAML file (`load(path)`) and says, for one message, whether the
classifier's intent should give way to another (`overrule(intent, ranking, text)`, usually
through `promote`). `RuleGuard` runs such rules as a non-trainable pipeline component; the
guards are `bot.nlu.credit_guard.CreditLineGuard` and
`bot.nlu.delivery_guard.DeliveryProblemGuard`.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]


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
