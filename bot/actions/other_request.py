"""The second request of a message, offered once the first is answered (bot/nlu/other_request.py
finds it; bot/policies/other_request.py decides when)."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.masking import mask_text
from bot.nlu.other_request import REMIND_ACTION, open_other_request

# The button resends the customer's own words, cut to what fits on a button.
BUTTON_CHARS = 16


class ActionRemindOtherRequest(Action):
    """「您刚才还提到「发票怎么开」…」 with the question as a button."""

    def name(self) -> str:
        """Name used in the domain."""
        return REMIND_ACTION

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Offer the open second request; say nothing when there is none any more."""
        other = open_other_request(tracker.events)
        if not other:
            return []
        text = str(other["text"])
        shown = mask_text(text)
        title = shown if len(shown) <= BUTTON_CHARS else shown[:BUTTON_CHARS - 1] + "…"
        dispatcher.utter_message(
            text=f"您刚才还提到「{shown}」，需要的话点下面的按钮，我接着帮您处理。",
            buttons=[{"title": title, "payload": text}],
        )
        return []
