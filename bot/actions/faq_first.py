"""A policy question that would start a journey: the FAQ answer, then the offer to do it
(bot/core/faq_first.py decides, bot/policies/faq_first.py predicts); and the journey taken up
when the customer accepts the offer."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.core.courtesy import acknowledge_if_upset
from bot.core.faq_first import FAQ_FIRST_ACTION, TAKE_ACTION, faq_first, offered_journey
from bot.core.replay import put_back, with_carried_entities
from bot.core.suggestions import SUGGESTIONS_SLOT
from bot.faq import render
from bot.nlu.other_request import OTHER_REQUEST

# The offer of each journey of bot/core/faq_first.yml, with its button (domain/faq_first.yml).
OFFERS = {
    "ask_order_status": "utter_faq_first_offer_ask_order_status",
    "ask_refund_status": "utter_faq_first_offer_ask_refund_status",
    "request_refund": "utter_faq_first_offer_request_refund",
    "request_return": "utter_faq_first_offer_request_return",
    "request_invoice": "utter_faq_first_offer_request_invoice",
    "account_help": "utter_faq_first_offer_account_help",
    "payment_failed": "utter_faq_first_offer_payment_failed",
    "payment_charged": "utter_faq_first_offer_payment_charged",
    "cancel_order": "utter_faq_first_offer_cancel_order",
    "change_order": "utter_faq_first_offer_change_order",
}


def journey_request(message: dict[str, Any], answer: dict[str, Any],
                    input_channel: str | None) -> list[dict[str, Any]]:
    """The customer's question put back as their latest message (so it goes into its journey
    and is not counted twice), with the order or phone number of the answer to the offer when
    the question had none."""
    parse = {key: value for key, value in message.items() if key != OTHER_REQUEST}
    parse["entities"] = with_carried_entities(list(parse.get("entities") or []), answer)
    return put_back(str(message.get("text") or ""), parse, answer, input_channel)


class ActionFaqFirst(Action):
    """The FAQ answer to a policy question, then 「需要的话我可以直接帮您办理」 with a button
    that starts the journey the question would have started."""

    def name(self) -> str:
        """Name used in the domain."""
        return FAQ_FIRST_ACTION

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Answer and offer; straight into the journey when the decision says so."""
        message = tracker.latest_message
        entry = faq_first(message)
        if entry is None:
            return journey_request(message, {}, tracker.get_latest_input_channel())
        acknowledge_if_upset(dispatcher, tracker)
        dispatcher.utter_message(**render(entry))
        dispatcher.utter_message(response=OFFERS[message["intent"]["name"]])
        return [SlotSet(SUGGESTIONS_SLOT, None)]


class ActionTakeOfferedJourney(Action):
    """The customer accepted the offer (the button, 「好的」, or the order number): their
    question goes into the journey as if the bot had started it at once."""

    def name(self) -> str:
        """Name used in the domain."""
        return TAKE_ACTION

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Put the offered question back, or acknowledge when there is no offer any more."""
        offered = offered_journey(tracker.events)
        if offered is None:
            dispatcher.utter_message(response="utter_affirm")
            return []
        return journey_request(offered.get("parse_data") or {}, tracker.latest_message or {},
                               tracker.get_latest_input_channel())
