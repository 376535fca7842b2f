"""Some order-status messages are delivery problems: the parcel shows delivered but the
customer does not have it, or its tracking has not moved for days. The customer says both
things at once (「显示签收了 东西到哪了」, 「五天没更新了 到哪了」); the intent classifier weighs
the words one by one and the where-is-it words win. The rules are stated once in
`bot/nlu/delivery_problems.yml`: an order-status message that matches one of them goes to the
delivery-problem journey.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from bot.nlu.normalize import normalize
from bot.nlu.rule_guard import RuleGuard, alternation, promote, read_rules, words

RULES_FILE = "bot/nlu/delivery_problems.yml"


@dataclass(frozen=True)
class ProblemRule:
    """Every group must match (any one of its words, or its pattern); no `unless` word may."""

    name: str
    groups: tuple[re.Pattern[str], ...]
    unless: re.Pattern[str] | None

    def matches(self, prepared: str) -> bool:
        """Whether the normalised, lower-cased text matches the rule."""
        if self.unless and self.unless.search(prepared):
            return False
        return all(group.search(prepared) for group in self.groups)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> ProblemRule:
        """One rule of the YAML file; a rule without a name or groups, or an empty group, is
        an error rather than a rule that matches everything."""
        name = str(data.get("name") or "")
        groups: list[re.Pattern[str]] = []
        for group in data.get("all") or []:
            if "pattern" in group:
                groups.append(re.compile(str(group["pattern"]), re.IGNORECASE))
            elif words(group, "words"):
                groups.append(alternation(words(group, "words")))
            else:
                raise ValueError(f"delivery_problems: rule {name!r} has an empty group")
        if not name or not groups:
            raise ValueError("delivery_problems: every rule needs a name and `all` groups")
        unless = words(data, "unless")
        return cls(name, tuple(groups), alternation(unless) if unless else None)


class DeliveryProblemRules:
    """Which order-status messages describe a delivery problem, and which one."""

    def __init__(self, rules: list[ProblemRule], intents: list[str], target: str) -> None:
        """Keep the compiled rules, the intents they may overrule and the target intent."""
        if not rules or not intents or not target:
            raise ValueError("delivery_problems: rules, intents and the target must be set")
        self.rules = tuple(rules)
        self.intents = frozenset(intents)
        self.target = target

    @classmethod
    def load(cls, path: str | Path = RULES_FILE) -> DeliveryProblemRules:
        """Read the rules YAML (relative paths from the working directory or project root)."""
        data = read_rules(path)
        return cls([ProblemRule.parse(rule) for rule in data.get("rules") or []],
                   words(data, "intents"), str(data.get("target") or ""))

    def problem(self, text: str) -> str | None:
        """The name of the first rule the text matches, or None."""
        prepared = normalize(text or "").lower()
        return next((rule.name for rule in self.rules if rule.matches(prepared)), None)

    def overrule(self, intent: dict[str, Any], ranking: list[dict[str, Any]],
                 text: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The intent and ranking with the delivery problem on top, or None to keep them."""
        if intent.get("name") not in self.intents or self.problem(text) is None:
            return None
        return promote(intent, ranking, self.target)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class DeliveryProblemGuard(RuleGuard):
    """Moves "shows delivered, but I don't have it" and "stuck for days" from order status to
    delivery problems."""

    rules_type = DeliveryProblemRules
    default_rules_path = RULES_FILE
