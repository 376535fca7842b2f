"""Respond with care to upset customers; hand angry and complaining ones to a human."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.emotion_tracking import acknowledgement, assess, bot_texts, customer_turns
from bot.faq import load_policy


def acknowledge_if_upset(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Put a short, sincere line before the answer when the customer is upset (or angry
    without being escalated yet)."""
    emotion = tracker.latest_message.get("emotion") or {}
    if emotion.get("label") not in {"upset", "angry"}:
        return
    line = acknowledgement("upset", bot_texts(tracker.events), tracker.latest_message.get("text"))
    if line:
        dispatcher.utter_message(text=line)


class ActionEscalate(Action):
    """Apologise and hand over to a human with high priority: after a complaint, or when
    the EmotionEscalationPolicy finds the customer angry or ever more frustrated."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_escalate"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Apologise, say what happens next, and record why and how urgently."""
        assessment = assess(customer_turns(tracker.events))
        complaint = tracker.latest_message.get("intent", {}).get("name") == "complaint"
        reason = "complaint" if complaint else f"emotion_{assessment.reason}"
        apology = acknowledgement("angry", bot_texts(tracker.events))
        if apology:
            dispatcher.utter_message(text=apology)
        dispatcher.utter_message(response="utter_escalate_to_human", **load_policy())
        return [
            SlotSet("handoff_reason", reason),
            SlotSet("handoff_priority", "high" if complaint else assessment.priority),
        ]
