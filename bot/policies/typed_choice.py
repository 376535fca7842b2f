"""Keeps a form running when the customer types one of its question's buttons instead of
clicking it (bot/typed_choice.py): 「个人」 answers 「发票抬头开给个人还是单位？」, it is
not a request for a person, and 「支付宝」 answers the payment-method question, not an FAQ one.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from bot.policies.base import CertainPolicy
from bot.typed_choice import latest_bot_buttons, typed_payload


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=False
)
class TypedChoicePolicy(CertainPolicy):
    """Predicts the active form right after a message that is a typed button title."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Above RulePolicy (6), whose FAQ and handoff rules would take the word."""
        return {"priority": 7}

    def next_action(self, tracker: DialogueStateTracker, domain: Domain) -> str | None:
        """The active form when the customer typed one of its question's buttons."""
        form = tracker.active_loop_name
        if not form or tracker.latest_action_name != ACTION_LISTEN_NAME or \
                not tracker.latest_message:
            return None
        events = [event.as_dict() for event in tracker.applied_events()]
        typed = typed_payload(tracker.latest_message.text or "", latest_bot_buttons(events))
        return form if typed else None
