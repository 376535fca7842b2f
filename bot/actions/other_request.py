"""The second request of a message, offered once the first is answered (bot/nlu/other_request.py
finds it; bot/policies/other_request.py decides when), and taken up when the customer says yes
in words instead of pressing the button."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.core.lookup import ORDER_ID, PHONE
from bot.core.replay import put_back, with_carried_entities
from bot.core.replies import verbatim
from bot.faq import KEY_ENTITY, RETRIEVAL_INTENT
from bot.nlu.other_request import (
    REMIND_ACTION,
    REPLAYED,
    TAKE_ACTION,
    offered_request,
    open_other_request,
)
from contracts.masking import mask_text

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
        dispatcher.utter_message(response="utter_remind_other_request", request=verbatim(shown),
                                 buttons=[{"title": title, "payload": text}])
        return []


class ActionTakeOtherRequest(Action):
    """Takes up the offered second request when the customer answers the offer in words
    (「好的」, or the order number the request needs): the request becomes the customer's
    latest message again, with its intent and the details of both messages, and the bot
    answers it as if it had been sent on its own."""

    def name(self) -> str:
        """Name used in the domain."""
        return TAKE_ACTION

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """A listen and the request as a customer message, parsed as found before."""
        offered = offered_request(tracker.events)
        if not offered:
            dispatcher.utter_message(response="utter_affirm")
            return []
        latest = tracker.latest_message or {}
        text = str(offered["text"])
        parse = request_parse(text, str(offered.get("intent") or ""), latest)
        return put_back(text, parse, latest, tracker.get_latest_input_channel())


def request_parse(text: str, intent: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The parse result of an offered request: its intent (an FAQ entry as faq plus its
    key), the order and phone numbers in it or in the customer's answer, and the mark that it
    was put back, not sent now (no emotion of its own: the answer already counted)."""
    entities: list[dict[str, Any]] = []
    if intent.startswith(f"{RETRIEVAL_INTENT}/"):
        entities.append({"entity": KEY_ENTITY, "value": intent.split("/", 1)[1]})
        intent = RETRIEVAL_INTENT
    for name, pattern in (("order_id", ORDER_ID), ("phone", PHONE)):
        for match in pattern.finditer(text):
            entities.append({"entity": name, "value": match.group(),
                             "start": match.start(), "end": match.end()})
    return {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "intent_ranking": [{"name": intent, "confidence": 1.0}],
        "entities": with_carried_entities(entities, answer),
        REPLAYED: True,
    }
