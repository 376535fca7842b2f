"""The questions of the order lookup shared by every journey about one order: the order number
(or a pick among the orders of the customer's phone), and the phone that proves the order is
the customer's. The checks are in bot/core/lookup.py and bot/core/ownership.py."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import Order, ShopApiUnavailable
from bot.core.courtesy import acknowledge_before_asking, uttered_this_turn
from bot.core.shop import STATE_NAMES, shop_client
from contracts.masking import mask_phone

MAX_LISTED_ORDERS = 5


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
        acknowledge_before_asking(dispatcher, tracker)
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


class ActionAskPhone(Action):
    """Ask for the phone: the account's for the account journey, otherwise the phone the
    order was placed with, as proof that the order is the customer's."""

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_phone"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The question that fits the journey (not again right after the refusal of another
        phone, which already asks for the right one)."""
        if uttered_this_turn(tracker, "utter_phone_not_owner"):
            return []
        form = (tracker.active_loop or {}).get("name")
        acknowledge_before_asking(dispatcher, tracker)
        dispatcher.utter_message(
            response="utter_ask_phone" if form == "account_form" else "utter_ask_owner_phone")
        return []
