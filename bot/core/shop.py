"""The shop as the journeys see it: its API client, the names of order states, an order's
goods in a few words, and the shop's refusals in the customer's words."""
from __future__ import annotations

import os
import threading

from bot.clients.shop_api import Order, ShopApiClient, ShopApiError
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


def refusal_text(error: ShopApiError) -> str:
    """A specific refusal for a shop API error other than "no such order"."""
    policy = load_policy()
    specific = REFUSALS.get(error.code or "")
    if specific:
        return f"{specific}需要的话可以发送「转人工」，客服帮您看看。"
    return (f"抱歉，系统没有受理这个操作。可以发送「转人工」，客服会在服务时间"
            f"（{policy['service_hours']}）内帮您处理。")
