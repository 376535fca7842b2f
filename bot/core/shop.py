"""The shop as the journeys see it: its API client, the names of order states, an order's
goods in a few words, and the responses that word the shop's refusals."""
from __future__ import annotations

import os
import threading

from bot.clients.shop_api import Order, ShopApiClient, ShopApiError
from bot.core.replies import Reply, reply
from bot.faq import load_policy

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
# The shop API's refusals (codes of shop_api/errors.py): the response that words each one.
REFUSALS = {
    "not_paid": "utter_refused_not_paid",
    "not_shipped": "utter_refused_not_shipped",
    "not_delivered": "utter_refused_not_delivered",
    "already_shipped": "utter_refused_already_shipped",
    "already_delivered": "utter_refused_already_delivered",
    "already_cancelled": "utter_refused_already_cancelled",
    "refund_exists": "utter_refused_refund_exists",
    "already_refunded": "utter_refused_already_refunded",
    "return_window_expired": "utter_refused_return_window_expired",
    "warranty_expired": "utter_refused_warranty_expired",
    "case_exists": "utter_refused_case_exists",
    "full_refund_only": "utter_refused_full_refund_only",
    "amount_exceeds_refundable": "utter_refused_amount_exceeds_refundable",
    "nothing_to_refund": "utter_refused_nothing_to_refund",
    "invoice_exists": "utter_refused_invoice_exists",
    "invoice_window_expired": "utter_refused_invoice_window_expired",
    "reissue_limit_reached": "utter_refused_reissue_limit_reached",
    "invoice_not_found": "utter_refused_invoice_not_found",
    "invalid_request": "utter_refused_invalid_request",
}


_clients = threading.local()


def shop_client() -> ShopApiClient:
    """The shop API client, configured by the environment of the action server.

    One client per thread and configuration: its requests.Session keeps the connections to
    the shop API open between actions (a new session per action opened a TCP connection for
    every call), and sessions are never shared between the action server's worker threads.
    """
    key = (os.environ.get("SHOP_API_URL"), os.environ.get("SHOP_API_TOKEN"))
    cached = getattr(_clients, "by_config", None)
    if cached is None:
        cached = _clients.by_config = {}
    client = cached.get(key)
    if client is None:
        client = cached[key] = ShopApiClient.from_env()
    return client


def items_summary(order: Order) -> str:
    """The order's goods in a few words: first item and how many more."""
    if not order.items:
        return "商品"
    first = order.items[0].name
    return f"{first} 等{len(order.items)}件" if len(order.items) > 1 else first


def refusal(error: ShopApiError) -> Reply:
    """A specific refusal for a shop API error other than "no such order"."""
    specific = REFUSALS.get(error.code or "")
    if specific:
        return reply(specific)
    return reply("utter_refused", service_hours=load_policy()["service_hours"])
