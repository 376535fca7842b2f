"""Takes up the second request of a message once the first is answered.

`ShopIntentClassifier` marks a second request in another topic under `other_request`
(bot/nlu/other_request.py). When the bot has just finished an answer (one of
`after_actions`) without asking anything back (FAQ suggestions, a request to rephrase), no
form is running and no change waits for the customer's yes, this policy predicts
`action_remind_other_request`, which offers the second request as a button; then it waits for
the customer. Each second request is offered once, and only within `max_turns`
customer messages of the one that held it.

When the customer answers the offer in words instead of the button, with a yes (「好的」,
「要」) or with nothing but the order number or phone number the request needs, the policy
predicts `action_take_other_request`, which takes the request up as if the customer had sent
it again.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from bot.faq import RETRIEVAL_INTENT
from bot.nlu.other_request import (
    ASKS_BACK,
    REMIND_ACTION,
    REMIND_WITHIN_TURNS,
    TAKE_ACTION,
    offered_request,
    open_other_request,
)
from bot.policies.base import CertainPolicy

# Set while a change waits for the customer's yes (PENDING_SLOT of bot/core/changes.py).
PENDING_SLOT = "pending_change"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=False
)
class OtherRequestPolicy(CertainPolicy):
    """Predicts the reminder of a second request right after a finished answer."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Above RulePolicy (6), whose rules would otherwise wait for the customer."""
        return {
            "priority": 7,
            "max_turns": REMIND_WITHIN_TURNS,
            # The actions that finish an answer: a journey's answer, a confirmed change, an
            # FAQ answer. Questions, forms and handoffs are not in the list.
            "after_actions": [
                "action_order_status", "action_refund_status", "action_delivery_issue",
                "action_cancel_order", "action_change_order", "action_confirm_change",
                "action_keep_order", "action_payment_failed", "action_payment_charged",
                "action_refund_request", "action_after_sales", "action_invoice",
                "action_account_help", "action_answer_faq", "action_answer_product_question",
                "action_answer_promotion_question", "action_answer_payment_question",
            ],
            # Answers to the offer that take it: a yes, or bare details (an order number).
            "yes_intents": ["affirm"],
            "details_intents": ["inform"],
        }

    def next_action(self, tracker: DialogueStateTracker, domain: Domain) -> str | None:
        """The reminder after a finished answer when a second request is open; after the
        reminder, waiting."""
        latest = tracker.latest_action_name
        if latest == REMIND_ACTION:
            return ACTION_LISTEN_NAME
        if latest == ACTION_LISTEN_NAME:
            return TAKE_ACTION if self._takes_offer(tracker) else None
        if latest not in self.config["after_actions"] or tracker.active_loop_name or \
                tracker.get_slot(PENDING_SLOT):
            return None
        events = [event.as_dict() for event in tracker.applied_events()]
        if asked_back(events):
            return None
        found = open_other_request(events, REMIND_ACTION, int(self.config["max_turns"]))
        return REMIND_ACTION if found else None

    def _takes_offer(self, tracker: DialogueStateTracker) -> bool:
        """Whether the customer's latest message answers the offer of a second request in
        words: a yes, or only the order or phone number a journey needs."""
        message = tracker.latest_message
        if message is None:
            return False
        intent = (message.intent or {}).get("name")
        is_yes = intent in self.config["yes_intents"]
        if not is_yes and intent not in self.config["details_intents"]:
            return False
        offered = offered_request([event.as_dict() for event in tracker.applied_events()])
        if not offered:
            return False
        if is_yes:
            return True
        # An order number answers a journey's question, not an FAQ question's.
        return not str(offered.get("intent", "")).startswith(RETRIEVAL_INTENT) and any(
            entity.get("entity") in DETAIL_ENTITIES for entity in message.entities or [])


# The entities a journey asks for.
DETAIL_ENTITIES = {"order_id", "phone"}

# Responses that ask the customer something back, so the turn is not finished.
ASKING_RESPONSES = {"utter_ask_rephrase"}
# Set while FAQ suggestions (「您是想问…」) wait for the customer's pick (bot/actions/faq.py).
SUGGESTIONS_SLOT = "suggested_faq"


def asked_back(events: list[dict[str, Any]]) -> bool:
    """Whether the bot's messages since the customer's latest one ask something back: FAQ
    suggestions (「您是想问…」, the suggestions slot set), a request to rephrase, or an answer
    that offers a next step and waits for it (`asks_back` in its metadata: the late-parcel
    offer). The second request waits for the answer to that. An answer's own optional next-step
    buttons (an FAQ's 「价保规则」) do not."""
    for event in reversed(events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "slot" and event.get("name") == SUGGESTIONS_SLOT:
            return bool(event.get("value"))
        metadata = (event.get("metadata") or {}) if event.get("event") == "bot" else {}
        if metadata.get("utter_action") in ASKING_RESPONSES or metadata.get(ASKS_BACK):
            return True
    return False
