"""Getting the order under discussion: the number from the message, or asked for and
checked (format, existence, ownership), or picked from the orders of the customer's phone.
Shared by every journey about one order."""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import date, datetime, timedelta, timezone
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.emotion import acknowledge_if_upset, is_upset
from bot.actions.handoff import Reason, hand_off
from bot.clients.shop_api import Order, ShopApiClient, ShopApiError, ShopApiUnavailable
from bot.faq import load_policy
from bot.masking import mask_phone

CHINA = timezone(timedelta(hours=8))


def china_today() -> date:
    """Today's date in China, where the shop's delivery days are counted."""
    return datetime.now(CHINA).date()

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


def acknowledge_before_asking(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Before the first question of a turn: sorry when the customer has just reported a
    problem with a parcel, and an acknowledgement when they are upset, whatever they asked
    ("到现在还没发货" should not be answered with a bare "请发一下订单号"). Once per turn: an
    upset customer gets the acknowledgement instead of the apology, and nothing is added after
    the bot already spoke in this turn."""
    if bot_spoke_this_turn(tracker):
        return
    if is_upset(tracker):
        acknowledge_if_upset(dispatcher, tracker)
    elif tracker.latest_message.get("intent", {}).get("name") == "report_delivery_issue":
        dispatcher.utter_message(response="utter_sorry_delivery_problem")


def bot_spoke_this_turn(tracker: Tracker) -> bool:
    """Whether the bot already sent a message since the customer's last one."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot":
            return True
    return False


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
            dispatcher.utter_message(text=refusal_text(error))  # the order stays under discussion
            return reset
        return [*reset, *events]


# The shop API's refusals, as a customer should hear them (codes of shop_api/errors.py).
REFUSALS = {
    "not_paid": "这个订单还没有付款，暂时办不了。",
    "not_shipped": "这个订单还没有发货，暂时办不了。",
    "not_delivered": "这个订单还没有签收，暂时办不了。",
    "already_shipped": "订单已经发货，不能再修改或取消了。",
    "already_delivered": "订单已经签收了，这个操作办不了。",
    "already_cancelled": "这个订单已经取消了。",
    "refund_exists": "这个订单已经有一笔退款在处理中了，可以问我「退款到哪了」查看进度。",
    "already_refunded": "这个订单已经退过款了。",
    "return_window_expired": "已经超过退货期限了。",
    "warranty_expired": "已经超过保修期了。",
    "case_exists": "这个订单已经有一个同类的售后申请在处理中了，进度可以在「我的-售后」查看。",
    "full_refund_only": "还没发货的订单只能全额退款。",
    "amount_exceeds_refundable": "申请的金额超过了这个订单还能退的金额。",
    "nothing_to_refund": "这个订单已经没有可以退的金额了。",
    "invoice_exists": "这个订单已经开过发票了，如果抬头有误可以告诉我「改发票抬头」。",
    "invoice_window_expired": "已经超过申请发票的期限了。",
    "reissue_limit_reached": "这张发票已经换开过，按规定不能再换开了。",
    "invoice_not_found": "这个订单还没有申请过发票。",
    "invalid_request": "提交的信息有误，系统没有受理。",
}


def refusal_text(error: ShopApiError) -> str:
    """A specific refusal for a shop API error other than "no such order"."""
    policy = load_policy()
    specific = REFUSALS.get(error.code or "")
    if specific:
        return f"{specific}需要的话可以发送「转人工」，客服帮您看看。"
    return (f"抱歉，系统没有受理这个操作。可以发送「转人工」，客服会在服务时间"
            f"（{policy['service_hours']}）内帮您处理。")


def offer_human(dispatcher: CollectingDispatcher, failure: str) -> None:
    """Apologise for the specific failure and offer a human agent."""
    response = "utter_shop_api_down" if failure == "backend_down" else "utter_lookup_gave_up"
    dispatcher.utter_message(response=response, **load_policy())
