"""Answers a policy question from the FAQ before the journey it would start
(bot/core/faq_first.py decides), then waits for the customer; takes the offered journey up
when the customer answers the offer with a yes or the order number instead of the button.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from bot.core.faq_first import FAQ_FIRST_ACTION, TAKE_ACTION, faq_first, offered_journey
from bot.policies.base import CertainPolicy


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=False
)
class FaqFirstPolicy(CertainPolicy):
    """Predicts the FAQ answer with the journey's offer, instead of the journey's rule."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Above RulePolicy (6), whose rule would start the journey's form."""
        return {
            "priority": 7,
            # Answers to the offer that take it: a yes, or bare details (an order number).
            "yes_intents": ["affirm"],
            "details_intents": ["inform"],
        }

    def next_action(self, tracker: DialogueStateTracker, domain: Domain) -> str | None:
        """The FAQ answer for a question that would start a journey; after it, waiting; a yes
        to the offer takes the journey up. Nothing while a form runs."""
        latest = tracker.latest_action_name
        if latest == FAQ_FIRST_ACTION:
            return ACTION_LISTEN_NAME
        if latest != ACTION_LISTEN_NAME or tracker.active_loop_name or \
                tracker.latest_message is None:
            return None
        if self._takes_offer(tracker):
            return TAKE_ACTION
        return FAQ_FIRST_ACTION if faq_first(tracker.latest_message.parse_data) else None

    def _takes_offer(self, tracker: DialogueStateTracker) -> bool:
        """Whether the latest message answers the offer in words: a yes, or an order number."""
        intent = (tracker.latest_message.intent or {}).get("name")
        if intent not in {*self.config["yes_intents"], *self.config["details_intents"]}:
            return False
        return offered_journey([event.as_dict() for event in tracker.applied_events()]) is not None
