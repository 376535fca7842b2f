"""Actions of the conversational basics: not understood input and bare order details."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

FALLBACK_INTENT = "nlu_fallback"


def consecutive_fallbacks(tracker: Tracker) -> int:
    """Count the customer's latest messages in a row that the bot did not understand."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent") or {}
        if intent.get("name") != FALLBACK_INTENT:
            break
        count += 1
    return count


class ActionFallback(Action):
    """Explain what was wrong with the message, or ask to rephrase, or offer a human."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_fallback"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Choose the reply from the input issue and how often the bot failed in a row."""
        message = tracker.latest_message
        issue = message.get("input_issue")
        if issue == "empty":
            dispatcher.utter_message(response="utter_input_empty")
        elif issue == "no_text":
            dispatcher.utter_message(response="utter_input_no_text")
        elif issue == "too_long":
            dispatcher.utter_message(
                response="utter_input_too_long", max_chars=message.get("truncated_to")
            )
        elif consecutive_fallbacks(tracker) >= 2:
            dispatcher.utter_message(response="utter_fallback_offer_human")
        else:
            dispatcher.utter_message(response="utter_ask_rephrase")
        return []


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
