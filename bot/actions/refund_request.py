"""Ask for a refund: where the order's state allows it, with the reason and an explicit yes
(the refund is opened once confirmed, registered below); otherwise what the customer can do
instead (cancel, refuse the parcel, return, repair)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import Order, Refund
from bot.core.answers import ChoiceQuestion, choice_from_message, free_text
from bot.core.changes import PendingChange, ask_confirmation, describe_denial
from bot.core.clock import china_today
from bot.core.confirmation import confirms
from bot.core.ownership import JourneyAction, JourneyForm
from bot.core.refunds import METHOD_NAMES, describe_refund, refund_days
from bot.core.replies import Reply, reply
from bot.core.shop import STATE_NAMES, items_summary, shop_client
from bot.faq import load_policy

REASONS = {
    "changed_mind": "不想要了/拍错了",
    "quality": "商品有质量问题",
    "not_as_described": "商品与描述不符",
    "missing_or_wrong": "少件/发错货",
}
REASON_KEYWORDS = {
    "missing_or_wrong": ("少", "漏发", "发错", "错发"),
    "quality": ("质量", "坏", "破", "瑕疵", "故障", "不能用", "用不了", "有问题"),
    "not_as_described": ("不符", "不一样", "货不对板", "色差", "假货", "描述"),
    "changed_mind": ("不想要", "不要了", "拍错", "买错", "买多", "买重", "不合适", "不喜欢"),
}


def refundable(order: Order, refunds: list[Refund]) -> Decimal:
    """What is left to refund for the goods (duplicate charges and rejected refunds aside)."""
    taken = sum((r.amount for r in refunds
                 if r.kind != "duplicate_charge" and r.status != "rejected"), Decimal(0))
    return max(order.amount - taken, Decimal(0))


class ValidateRefundRequestForm(JourneyForm):
    """Order lookup and the reason, for orders that can be refunded now."""

    def name(self) -> str:
        """Name used in the domain."""
        return "validate_refund_request_form"

    def blocker(self, order: Order, tracker: Tracker) -> str | None:
        """Refunds are opened while paid and not shipped, or within 7 days of delivery."""
        return None if order.allows("refund") else order.state

    def extract_refund_reason(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """A reason from a button, the customer's words, or their own short explanation."""
        found = choice_from_message(tracker, "refund_reason", REASON_KEYWORDS)
        if found:
            return {"refund_reason": REASONS[found["refund_reason"]]}
        return free_text(tracker, "refund_reason", 100)

    def validate_refund_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        """Any short reason in words."""
        text = str(value or "").strip()
        return {"refund_reason": text[:100] if text else None}


class ActionAskRefundReason(ChoiceQuestion):
    """Ask why, with the common reasons as buttons."""

    slot = "refund_reason"
    choices = REASONS

    def name(self) -> str:
        """Name used in the domain (the form calls action_ask_<slot>)."""
        return "action_ask_refund_reason"


class ActionRefundRequest(JourneyAction):
    """Ask for a yes to the refund with its amount and timing, or say what is possible."""

    journey_slots = ("refund_reason",)

    def name(self) -> str:
        """Name used in the domain."""
        return "action_refund_request"

    def answer_owned(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order_id: str
    ) -> list[dict[str, Any]]:
        """Summary and 确认申请退款吗, or the refund already running, or the alternatives."""
        client = shop_client()
        order = client.order(order_id)
        refunds = client.refunds(order_id)
        if not order.allows("refund"):
            explain_no_refund(order, refunds, china_today()).send(dispatcher)
            return []
        amount = refundable(order, refunds)
        method = METHOD_NAMES.get(order.payment_method or "", "原支付方式")
        reason = tracker.get_slot("refund_reason") or "客户申请退款"
        shown = {"order_id": order.order_id, "items": items_summary(order), "amount": amount,
                 "state": STATE_NAMES.get(order.state, order.state), "reason": reason,
                 "method": method}
        if order.state == "paid":
            question = reply("utter_confirm_refund_paid",
                             refund_days=refund_days(order.payment_method), **shown)
        else:
            question = reply("utter_confirm_refund_delivered",
                             return_review_hours=load_policy()["return_review_hours"], **shown)
        return ask_confirmation(dispatcher, question, RefundChange(order.order_id, reason),
                                yes="确认退款", no="先不退了")


def explain_no_refund(order: Order, refunds: list[Refund], today: date) -> Reply:
    """Why the order cannot be refunded now, and what the customer can do instead."""
    if order.state == "pending_payment":
        return reply("utter_refund_not_paid", order_id=order.order_id)
    if refunds and order.state in {"refunding", "refunded", "cancelled"}:
        return reply("utter_refund_exists", order_id=order.order_id,
                     refunds="\n".join(describe_refund(refund, today) for refund in refunds))
    return describe_denial(order, "refund")


def describe_new_refund(refund: Refund) -> Reply:
    """The refund just opened: its number, amount, method and when the money arrives."""
    shown = {"refund_id": refund.refund_id, "amount": refund.amount,
             "method": METHOD_NAMES.get(refund.method, refund.method)}
    pending = refund.status == "pending"
    if refund.expected_arrival:
        arrival = f"{refund.expected_arrival:%m月%d日}"
        return reply("utter_refund_opened_pending_by" if pending else "utter_refund_opened_by",
                     arrival=arrival, **shown)
    days = refund_days(refund.method)
    return reply("utter_refund_opened_pending" if pending else "utter_refund_opened",
                 refund_days=days, **shown)


@dataclass(frozen=True)
class RefundChange(PendingChange):
    """A refund of what is left to refund of the order, with the customer's reason."""

    kind: ClassVar[str] = "refund"
    reason: str | None = None


@confirms(RefundChange, asked_by="action_refund_request")
def open_refund(dispatcher: CollectingDispatcher, change: RefundChange, key: str) -> None:
    """Open the refund the customer has just confirmed and say when the money arrives."""
    refund = shop_client().open_refund(change.order_id, change.reason or "客户申请退款",
                                       idempotency_key=key)
    describe_new_refund(refund).send(dispatcher)
