"""Getting the order under discussion: the number from the message, or asked for and
checked (format, existence, ownership), or picked from the orders of the customer's phone.
Shared by every journey about one order."""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.basics import mask_phone
from bot.actions.emotion import acknowledge_if_upset
from bot.actions.handoff import Reason, hand_off
from bot.clients.shop_api import Order, ShopApiClient, ShopApiError, ShopApiUnavailable
from bot.faq import load_policy

ORDER_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
# After this many wrong order numbers or phones the bot offers a human instead of asking again.
MAX_ATTEMPTS = 3
MAX_LISTED_ORDERS = 5
STATE_NAMES = {
    "pending_payment": "待付款",
    "paid": "待发货",
    "shipped": "运输中",
    "out_for_delivery": "派送中",
    "delivered": "已签收",
    "cancelled": "已取消",
    "refunding": "退款中",
    "refunded": "已退款",
}


def shop_client() -> ShopApiClient:
    """The shop API client, configured by the environment of the action server."""
    return ShopApiClient.from_env()


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


class OrderLookupValidation(FormValidationAction):
    """Checks the order number's format, that it exists and that it is the customer's.
    Each journey's form subclasses it and only gives its name."""

    @abstractmethod
    def name(self) -> str:
        """The validation action of the journey's form (abstract, so rasa-sdk skips this)."""

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        """Stop asking once the lookup failed for good (too many attempts, backend down)."""
        return [] if tracker.get_slot("journey_failure") else domain_slots

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
        try:
            order = shop_client().order(order_id)
        except ShopApiUnavailable:
            return backend_down()
        except ShopApiError:
            return failed_attempt(dispatcher, tracker, "utter_order_not_found", order_id=order_id)
        phone = tracker.get_slot("phone")
        if phone and order.address.phone != mask_phone(phone):
            return failed_attempt(dispatcher, tracker, "utter_order_not_yours",
                                  phone=mask_phone(phone))
        return {"order_id": order_id, "lookup_attempts": 0}

    def validate_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Accept a mainland mobile number; the order list is shown by action_ask_order_id."""
        match = PHONE.search(str(value or ""))
        if not match:
            return {"phone": None, **failed_attempt(dispatcher, tracker, "utter_phone_invalid")}
        return {"phone": match.group()}


class ActionAskOrderId(Action):
    """Ask for the order number, or let the customer pick one of the orders of their phone."""

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_order_id"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """List the customer's recent orders as buttons when their phone is known."""
        if "utter_ask_phone_for_orders" in actions_this_turn(tracker):
            return []  # the bot has just asked for the phone: do not ask twice
        phone = tracker.get_slot("phone")
        if not phone:
            dispatcher.utter_message(response="utter_ask_order_id")
            return []
        try:
            orders = shop_client().orders_by_phone(phone, limit=MAX_LISTED_ORDERS)
        except ShopApiUnavailable:
            dispatcher.utter_message(response="utter_ask_order_id")
            return []
        if not orders:
            dispatcher.utter_message(response="utter_no_orders_for_phone", phone=mask_phone(phone))
            return [SlotSet("phone", None)]
        buttons = [{"title": order_title(o), "payload": order_payload(o)} for o in orders]
        dispatcher.utter_message(response="utter_pick_order", buttons=buttons)
        return []


def actions_this_turn(tracker: Tracker) -> list[str]:
    """Names of the actions run since the customer's last message (the form's included)."""
    names = []
    for event in reversed(tracker.events):
        if event.get("event") == "action":
            if event.get("name") == "action_listen":
                break
            names.append(event.get("name"))
    return names


def order_title(order: Order) -> str:
    """A button title a customer recognises: date, first item and state."""
    first = order.items[0].name if order.items else "订单"
    more = f"等{len(order.items)}件" if len(order.items) > 1 else ""
    state = STATE_NAMES.get(order.state, order.state)
    return f"{order.created_at:%m月%d日} {first}{more}（{state}）"


def order_payload(order: Order) -> str:
    """Payload that gives the order number as if the customer had typed it."""
    return f'/inform{{"order_id":"{order.order_id}"}}'


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
        except ShopApiError:
            dispatcher.utter_message(response="utter_order_not_found", order_id=order_id)
            return [*reset, SlotSet("order_id", None)]
        return [*reset, *events]


def offer_human(dispatcher: CollectingDispatcher, failure: str) -> None:
    """Apologise for the specific failure and offer a human agent."""
    response = "utter_shop_api_down" if failure == "backend_down" else "utter_lookup_gave_up"
    dispatcher.utter_message(response=response, **load_policy())
