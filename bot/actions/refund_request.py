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
            dispatcher.utter_message(text=explain_no_refund(order, refunds, china_today()))
            return []
        amount = refundable(order, refunds)
        method = METHOD_NAMES.get(order.payment_method or "", "原支付方式")
        reason = tracker.get_slot("refund_reason") or "客户申请退款"
        lines = [f"订单 {order.order_id}：{items_summary(order)}，"
                 f"当前状态：{STATE_NAMES.get(order.state, order.state)}。",
                 f"申请退款 {amount} 元，原因：{reason}，原路退回{method}。"]
        if order.state == "paid":
            lines.append(f"订单还没发货，提交后立即退款，一般 {refund_days(order.payment_method)}"
                         "到账，订单随之取消。")
        else:
            policy = load_policy()
            lines.append(f"已签收的订单退款需要审核（{policy['return_review_hours']} 小时内），"
                         "如需寄回商品，审核通过后会告诉您寄回方式。")
        return ask_confirmation(dispatcher, "\n".join(lines), "确认申请退款吗？",
                                RefundChange(order.order_id, reason),
                                yes="确认退款", no="先不退了")


def explain_no_refund(order: Order, refunds: list[Refund], today: date) -> str:
    """Why the order cannot be refunded now, and what the customer can do instead."""
    if order.state == "pending_payment":
        return (f"订单 {order.order_id} 还没有付款，不需要退款。不想要的话可以直接取消订单，"
                "告诉我「取消订单」就行。")
    if refunds and order.state in {"refunding", "refunded", "cancelled"}:
        lines = [f"订单 {order.order_id} 已经有退款了："]
        lines += [describe_refund(refund, today) for refund in refunds]
        return "\n".join(lines)
    return describe_denial(order, "refund")


def describe_new_refund(refund: Refund) -> str:
    """The refund just opened: its number, amount, method and when the money arrives."""
    method = METHOD_NAMES.get(refund.method, refund.method)
    when = f"预计 {refund.expected_arrival:%m月%d日} 前到账" if refund.expected_arrival else \
        f"一般 {refund_days(refund.method)} 到账"
    status = "审核通过后退款" if refund.status == "pending" else "正在退款"
    return (f"退款申请已提交，退款单号 {refund.refund_id}。\n"
            f"{refund.amount} 元将原路退回{method}，{status}，{when}。"
            "之后可以随时问我「退款到哪了」查看进度。")


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
    dispatcher.utter_message(text=describe_new_refund(refund))
