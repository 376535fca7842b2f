"""Respond with care to upset customers; hand angry and complaining ones to a human."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.core.handoff import HandoffAction, Reason, hand_off
from bot.emotion_tracking import REASON_NONE, acknowledgement, assess, bot_texts, customer_turns
from bot.high_risk import high_risk

# Intents whose anger is about something else than the shop.
NOT_ABOUT_THE_SHOP = {"out_of_scope"}


class ActionEscalate(HandoffAction):
    """Apologise and hand over to a human with high priority: after a complaint, or when
    the EmotionEscalationPolicy finds the customer angry or ever more frustrated."""

    def name(self) -> str:
        """Name used in the domain."""
        return "action_escalate"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Apologise, then hand off: urgent for high-risk words (报警, 律师, 12315 ...), high
        for a complaint or anger."""
        assessment = assess(customer_turns(tracker.events))
        intent = tracker.latest_message.get("intent", {}).get("name")
        complaint = intent == "complaint"
        # Anger at something that is not the shop (traffic, a boss) gets sympathy, not an
        # apology for "the experience"; the handoff still follows (it is the safety net for
        # angry customers whose message was misread).
        apology = acknowledgement("angry", bot_texts(tracker.events),
                                  at_shop=intent not in NOT_ABOUT_THE_SHOP)
        if apology:
            dispatcher.utter_message(text=apology)
        if high_risk(tracker.latest_message.get("text")):
            return hand_off(dispatcher, tracker, Reason.HIGH_RISK, "urgent")
        if complaint or assessment.reason == REASON_NONE:
            return hand_off(dispatcher, tracker, Reason.COMPLAINT, "high")
        return hand_off(dispatcher, tracker, Reason(f"emotion_{assessment.reason}"), "high")
