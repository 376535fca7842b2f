"""Changes that wait for the customer's explicit yes: their types, asking for the yes, the key
that makes each change once, and what an order's state still allows when it is too late.

Each journey with a confirmed change subclasses `PendingChange` and registers how the change
is made in bot/core/confirmation.py; the change waits in the `pending_change` slot as JSON."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.shop_api import Order
from bot.core.clock import china_today
from bot.core.shop import STATE_NAMES, items_summary
from bot.faq import load_policy

PENDING_SLOT = "pending_change"


@dataclass(frozen=True)
class PendingChange:
    """A change of one order waiting for the customer's yes; a journey's subclass names its
    `kind` and adds what the change needs (fields read with a default may be missing)."""

    kind: ClassVar[str]
    order_id: str

    def to_slot(self) -> str:
        """The value of the `pending_change` slot: the kind and the fields, as JSON."""
        return json.dumps({"kind": self.kind, **asdict(self)}, ensure_ascii=False,
                          sort_keys=True)


def ask_confirmation(
    dispatcher: CollectingDispatcher, summary: str, question: str, change: PendingChange,
    yes: str = "确认", no: str = "不用了",
) -> list[dict[str, Any]]:
    """Show what will change and ask for an explicit yes; remember the change until then."""
    dispatcher.utter_message(
        text=f"{summary}\n{question}",
        buttons=[{"title": yes, "payload": "/affirm"}, {"title": no, "payload": "/deny"}],
    )
    return [SlotSet(PENDING_SLOT, change.to_slot())]


def latest_user_time(tracker: Tracker) -> float | None:
    """When the customer sent their latest message (the turn a request belongs to)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return event.get("timestamp")
    return None


def latest_user_message_id(tracker: Tracker) -> str | None:
    """The id of the customer's latest message (the same when a client retries it)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return event.get("message_id")
    return None


def idempotency_key(tracker: Tracker, *parts: Any) -> str:
    """A key for a change: the same when an action is re-run in the same turn, another one
    for the same change asked again later (A -> B -> A, a second return)."""
    text = json.dumps([tracker.sender_id, latest_user_message_id(tracker)
                       or latest_user_time(tracker), *parts],
                      ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def describe_denial(order: Order, action: str) -> str:
    """What the order's state means for a cancel, a change or a refund (`action`), and what is
    still possible."""
    policy = load_policy()
    state = STATE_NAMES.get(order.state, order.state)
    head = f"订单 {order.order_id}（{items_summary(order)}）当前状态：{state}。"
    verb = {"cancel": "取消", "refund": "直接退款"}.get(action, "修改")
    if order.state in {"shipped", "out_for_delivery"}:
        return (f"{head}包裹已经发出，没办法再{verb}了，非常抱歉。您还可以：\n"
                f"1. 快递派送时直接拒收，包裹退回仓库后系统自动原路退款；\n"
                f"2. 先签收，签收后 {policy['return_window_days']} 天内在「我的-订单」申请"
                f"{policy['return_window_days']}天无理由退货退款。"
                + ("\n如果只是想换个时间或地址收货，可以直接联系派送的快递员协商改派。"
                   if action == "change" else ""))
    if order.state == "delivered":
        deadline = f"（{order.return_deadline:%m月%d日}前）" if order.return_deadline else ""
        possible = (f"签收后 {policy['return_window_days']} 天内{deadline}可以申请退货退款，"
                    "告诉我「我要退货」就可以帮您办理。" if order.allows("return") else
                    quality_or_repair(order, policy))
        return f"{head}订单已经签收，不能再{verb}了。{possible}"
    if order.state == "cancelled":
        return (f"{head}这个订单已经取消了，不需要再操作。已付款项会原路退回，"
                "可以问我「退款到哪了」查看进度。")
    if order.state in {"refunding", "refunded"}:
        return f"{head}这个订单已经在退款流程里了，可以问我「退款到哪了」查看进度。"
    return f"{head}这个订单现在不能{verb}，需要的话发送「转人工」，客服帮您看看。"


def quality_or_repair(order: Order, policy: dict[str, Any]) -> str:
    """What is left after the no-reason return window: a quality return within its own window
    (quality_return_days after delivery, counted in China's days), then repair under
    warranty."""
    late = (f"已超过 {policy['return_window_days']} 天无理由退货期，")
    if order.delivered_at is not None:
        days = (china_today() - order.delivered_at.date()).days
        if days <= int(policy["quality_return_days"]):
            return (late + f"如果商品有质量问题，签收后 {policy['quality_return_days']} 天内"
                    "仍可以退换，请发送「转人工」由客服核实办理；也可以申请保修维修。")
    return late + "如果商品有质量问题，可以申请保修维修。"
