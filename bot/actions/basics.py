"""Actions of the conversational basics: not understood input, a request for a human and
bare order details."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.core.courtesy import acknowledge_if_upset, is_upset
from bot.core.handoff import HandoffAction, Reason, hand_off
from bot.core.suggestions import SUGGESTIONS_SLOT, suggest, suggestions
from bot.emotion_tracking import assess, customer_turns
from bot.high_risk import high_risk

FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTION = "action_fallback"


def earlier_misses(events: list[dict[str, Any]]) -> int:
    """Count the customer's earlier turns in a row that the bot failed to understand.

    The current turn is not counted. A turn where the bot offered "您是想问" suggestions
    is neither a miss nor a success: the count goes on past it.
    """
    misses, seen_current = 0, False
    actions: set[str] = set()
    suggested = False
    for event in reversed(events):
        kind = event.get("event")
        if kind == "action":
            actions.add(event.get("name") or "")
        elif kind == "slot" and event.get("name") == SUGGESTIONS_SLOT and event.get("value"):
            suggested = True
        elif kind == "user":
            if seen_current and not suggested:
                if FALLBACK_ACTION not in actions:
                    break
                misses += 1
            seen_current = True
            actions, suggested = set(), False
    return misses


class ActionFallback(Action):
    """Explain what was wrong with the message, suggest questions, ask to rephrase, or
    offer a human after the second miss in a row."""

    def name(self) -> str:
        """Name used in the domain."""
        return FALLBACK_ACTION

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Choose the reply from the input issue and how often the bot failed in a row."""
        acknowledge_if_upset(dispatcher, tracker)
        message = tracker.latest_message
        issue = message.get("input_issue")
        if issue == "empty":
            dispatcher.utter_message(response="utter_input_empty")
        elif issue == "no_text":
            dispatcher.utter_message(response="utter_input_no_text")
        elif issue == "markup":
            dispatcher.utter_message(response="utter_input_markup")
        elif issue == "too_long":
            dispatcher.utter_message(
                response="utter_input_too_long", max_chars=message.get("truncated_to")
            )
        elif earlier_misses(tracker.events) >= 1:
            dispatcher.utter_message(response="utter_fallback_offer_human")
            return hand_off(dispatcher, tracker, Reason.REPEATED_FALLBACK)
        elif message.get("intent", {}).get("name") == FALLBACK_INTENT and (
            candidates := suggestions(message)
        ):
            return suggest(dispatcher, candidates)
        else:
            dispatcher.utter_message(response="utter_ask_rephrase")
        return []


class ActionOutOfScope(Action):
    """Say what the bot can help with. An upset customer is more likely venting about the
    order at hand in words the model did not place ("怎么这么慢啊") than asking about the
    weather: they hear that they were heard and are asked what went wrong, not that their
    message is out of scope."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_out_of_scope"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The help menu, or for an upset customer an acknowledgement and an open question."""
        if is_upset(tracker):
            acknowledge_if_upset(dispatcher, tracker)
            dispatcher.utter_message(response="utter_out_of_scope_upset")
        else:
            dispatcher.utter_message(response="utter_out_of_scope")
        return []


class ActionRequestHuman(HandoffAction):
    """Hand the conversation to a human agent at the customer's request."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_request_human"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Queue the handoff (urgent with high-risk words, high when the customer is upset
        enough to escalate) and tell the customer their place and wait."""
        acknowledge_if_upset(dispatcher, tracker)
        if high_risk(tracker.latest_message.get("text")):
            return hand_off(dispatcher, tracker, Reason.HIGH_RISK, "urgent")
        priority = assess(customer_turns(tracker.events)).priority
        return hand_off(dispatcher, tracker, Reason.EXPLICIT_REQUEST, priority)


def mask_phone(phone: str) -> str:
    """Show a phone number the way Chinese services do: 138****5678."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) == 11 else phone


class ActionAcknowledgeDetails(Action):
    """Confirm the order number or phone the customer sent and ask what it is about."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_acknowledge_details"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Name the details that were understood, never echoing a full phone number."""
        acknowledge_if_upset(dispatcher, tracker)
        entities = {e["entity"]: str(e["value"]) for e in tracker.latest_message["entities"]}
        parts = []
        if "order_id" in entities:
            parts.append(f"订单号 {entities['order_id']}")
        if "phone" in entities:
            parts.append(f"手机号 {mask_phone(entities['phone'])}")
        if "amount" in entities:
            parts.append(f"金额 {entities['amount']} 元")
        if not parts:
            dispatcher.utter_message(response="utter_ask_rephrase")
            return []
        dispatcher.utter_message(response="utter_ask_order_topic", details="、".join(parts))
        return []
