"""Getting the order under discussion: the number from the message, or asked for and checked
(format, existence, ownership); and the answer step of a journey about one order, which says
honestly why it cannot answer when the lookup failed or the shop system is down."""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import ShopApiError, ShopApiUnavailable
from bot.core.courtesy import acknowledge_if_upset
from bot.core.handoff import Reason, hand_off
from bot.core.shop import refusal, shop_client
from bot.faq import load_policy
from contracts.masking import mask_phone

ORDER_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
# After this many wrong order numbers or phones the bot offers a human instead of asking again.
MAX_ATTEMPTS = 3


def failed_attempt(
    dispatcher: CollectingDispatcher, tracker: Tracker, response: str, **kwargs: Any
) -> dict[str, Any]:
    """Count one failed attempt at the current step; the third one ends the lookup."""
    attempts = int(tracker.get_slot("lookup_attempts") or 0) + 1
    if attempts >= MAX_ATTEMPTS:
        return {"order_id": None, "lookup_attempts": attempts, "journey_failure": "attempts"}
    dispatcher.utter_message(response=response, **kwargs)
    return {"order_id": None, "lookup_attempts": attempts}


def backend_down() -> dict[str, Any]:
    """End the lookup because the shop system cannot be reached."""
    return {"order_id": None, "journey_failure": "backend_down"}


def offer_human(dispatcher: CollectingDispatcher, failure: str) -> None:
    """Apologise for the specific failure and offer a human agent."""
    response = "utter_shop_api_down" if failure == "backend_down" else "utter_lookup_gave_up"
    dispatcher.utter_message(response=response, **load_policy())


class StopOnFailure:
    """A form's validation that asks nothing more once the journey failed for good (three
    failed attempts at a step, or the shop system down). Put it first among the bases."""

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        """No more questions after a failure; otherwise the form's slots."""
        return [] if tracker.get_slot("journey_failure") else domain_slots


class OrderLookupValidation(StopOnFailure, FormValidationAction):
    """Checks the order number's format, that it exists and that it is the customer's.
    Each journey's form subclasses it and only gives its name."""

    @abstractmethod
    def name(self) -> str:
        """The validation action of the journey's form (abstract, so rasa-sdk skips this)."""

    def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Accept a 12-digit number of an existing order that matches the customer's phone."""
        text = str(value or "")
        match = ORDER_ID.search(text)
        if not match:
            if PHONE.search(text):  # a phone instead: validate_phone lists the orders
                return {"order_id": None}
            return failed_attempt(dispatcher, tracker, "utter_order_id_invalid")
        order_id = match.group()
        phone = tracker.get_slot("phone")
        try:
            shop_client().order(order_id)
            owner = not phone or shop_client().is_owner(order_id, str(phone))
        except ShopApiUnavailable:
            return backend_down()
        except ShopApiError:
            return failed_attempt(dispatcher, tracker, "utter_order_not_found", order_id=order_id)
        if not owner:
            return failed_attempt(dispatcher, tracker, "utter_order_not_yours",
                                  phone=mask_phone(str(phone)))
        return {"order_id": order_id, "lookup_attempts": 0}

    def validate_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Accept a mainland mobile number; the order list is shown by action_ask_order_id."""
        match = PHONE.search(str(value or ""))
        if not match:
            return {"phone": None, **failed_attempt(dispatcher, tracker, "utter_phone_invalid")}
        return {"phone": match.group()}


class OrderJourneyAction(Action, ABC):
    """The answer step of a journey about one order, after its form found the order.

    Handles what every such journey must: an upset customer, a lookup that gave up, the shop
    API being down or the order gone. Subclasses only say how to answer.
    """

    @abstractmethod
    def name(self) -> str:
        """Name used in the domain (abstract, so rasa-sdk skips this base)."""

    def answer(self, dispatcher: CollectingDispatcher, order_id: str) -> None:
        """Send the answer about the order (may raise ShopApiUnavailable / ShopApiError)."""
        raise NotImplementedError

    def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order_id: str
    ) -> list[dict[str, Any]]:
        """Answer and return events; journeys that need the tracker or set slots override it."""
        self.answer(dispatcher, order_id)
        return []

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Answer about the order, or say honestly why that is not possible."""
        acknowledge_if_upset(dispatcher, tracker)
        reset = [SlotSet("journey_failure", None), SlotSet("lookup_attempts", 0)]
        failure = tracker.get_slot("journey_failure")
        order_id = tracker.get_slot("order_id")
        if failure or not order_id:
            offer_human(dispatcher, failure or "attempts")
            if (failure or "attempts") == "attempts":  # the same step failed three times
                return [*reset, *hand_off(dispatcher, tracker, Reason.JOURNEY_FAILED)]
            return reset
        try:
            events = self.respond(dispatcher, tracker, order_id)
        except ShopApiUnavailable:
            offer_human(dispatcher, "backend_down")
            return reset
        except ShopApiError as error:
            if error.code == "order_not_found":
                dispatcher.utter_message(response="utter_order_not_found", order_id=order_id)
                return [*reset, SlotSet("order_id", None)]
            refusal(error).send(dispatcher)  # the order stays under discussion
            return reset
        return [*reset, *events]
