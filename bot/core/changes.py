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
from bot.core.replies import Reply, reply
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
    dispatcher: CollectingDispatcher, question: Reply, change: PendingChange,
    yes: str = "确认", no: str = "不用了",
) -> list[dict[str, Any]]:
    """Show what will change and ask for an explicit yes (`question`: a response that says
    both); remember the change until then."""
    question.send(dispatcher, buttons=[{"title": yes, "payload": "/affirm"},
                                       {"title": no, "payload": "/deny"}])
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


# How a denial names what the customer asked for.
VERBS = {"cancel": "取消", "refund": "直接退款", "change": "修改"}


def describe_denial(order: Order, action: str) -> Reply:
    """What the order's state means for a cancel, a change or a refund (`action`), and what is
    still possible."""
    policy = load_policy()
    head = {"order_id": order.order_id, "items": items_summary(order),
            "state": STATE_NAMES.get(order.state, order.state), "verb": VERBS.get(action, "修改")}
    days = policy["return_window_days"]
    if order.state in {"shipped", "out_for_delivery"}:
        if action == "change":
            return reply("utter_denial_shipped_change", return_window_days=days, **head)
        return reply("utter_denial_shipped", return_window_days=days, **head)
    if order.state == "delivered":
        if order.allows("return") and order.return_deadline:
            return reply("utter_denial_delivered_return_by", return_window_days=days,
                         return_deadline=f"{order.return_deadline:%m月%d日}", **head)
        if order.allows("return"):
            return reply("utter_denial_delivered_return", return_window_days=days, **head)
        return quality_or_repair(order, policy, head)
    if order.state == "cancelled":
        return reply("utter_denial_cancelled", **head)
    if order.state in {"refunding", "refunded"}:
        return reply("utter_denial_refunding", **head)
    return reply("utter_denial_other", **head)


def quality_or_repair(order: Order, policy: dict[str, Any], head: dict[str, str]) -> Reply:
    """What is left after the no-reason return window: a quality return within its own window
    (quality_return_days after delivery, counted in China's days), then repair under
    warranty."""
    days = policy["return_window_days"]
    if order.delivered_at is not None:
        since = (china_today() - order.delivered_at.date()).days
        if since <= int(policy["quality_return_days"]):
            return reply("utter_denial_delivered_quality", return_window_days=days,
                         quality_return_days=policy["quality_return_days"], **head)
    return reply("utter_denial_delivered_repair", return_window_days=days, **head)
