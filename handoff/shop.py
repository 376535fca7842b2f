"""The shop's orders beside a conversation: read from the shop API over HTTP (SHOP_API_URL,
SHOP_API_TOKEN), never imported, and turned into the cards the console shows."""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from urllib.parse import quote

import aiohttp

logger = logging.getLogger(__name__)
ORDER_ID = re.compile(r"^\d{12}$")
PHONE = re.compile(r"^1\d{10}$")
MAX_ORDERS = 5
STATE_LABELS = {
    "pending_payment": "待付款", "paid": "待发货", "shipped": "已发货",
    "out_for_delivery": "派送中", "delivered": "已签收", "cancelled": "已取消",
    "refunding": "退款中", "refunded": "已退款",
}
PAYMENT_LABELS = {"alipay": "支付宝", "wechat_pay": "微信支付", "debit_card": "储蓄卡",
                  "credit_card": "信用卡"}


class ShopError(Exception):
    """The shop API could not be reached or answered something unusable."""


class ShopClient:
    """A small async client of the shop API's order reads."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        """Keep the base URL and token; the HTTP session opens on first use."""
        self.url, self.token = url.rstrip("/"), token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the HTTP session."""
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with self.session.get(self.url + path, params=params,
                                        headers=headers) as resp:
                if resp.status == 404:
                    return None
                if resp.status != 200:
                    raise ShopError(f"shop API answered {resp.status}")
                return await resp.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise ShopError(str(error) or type(error).__name__) from error

    async def orders_for(self, order_ids: list[str], phone: str | None) -> list[dict[str, Any]]:
        """The orders the customer named, then their recent orders by phone (newest first),
        each once, at most MAX_ORDERS; raises ShopError when the shop API fails."""
        found: list[dict[str, Any]] = []
        for order_id in order_ids:
            if ORDER_ID.match(order_id):
                order = await self._get(f"/orders/{quote(order_id)}")
                if isinstance(order, dict):
                    found.append(order)
        if phone and PHONE.match(phone):
            body = await self._get("/orders", {"phone": phone, "limit": MAX_ORDERS})
            found.extend(o for o in (body or {}).get("orders", []) if isinstance(o, dict))
        seen: set[str] = set()
        cards = []
        for order in found:
            order_id = str(order.get("order_id"))
            if order_id in seen:
                continue
            seen.add(order_id)
            cards.append(order_card(order, named=order.get("order_id") in order_ids))
        return cards[:MAX_ORDERS]


def order_card(order: dict[str, Any], named: bool = False) -> dict[str, Any]:
    """What an agent needs from an order at a glance, with Chinese labels."""
    events = order.get("tracking_events") or []
    latest = events[0] if events and isinstance(events[0], dict) else None
    address = order.get("address") or {}
    return {
        "order_id": str(order.get("order_id") or ""),
        "named_by_customer": named,
        "state": order.get("state"),
        "state_label": STATE_LABELS.get(str(order.get("state")), "未知状态"),
        "amount": str(order.get("amount") or ""),
        "payment_label": PAYMENT_LABELS.get(str(order.get("payment_method")), "未付款"),
        "created_at": order.get("created_at"),
        "items": [{"name": str(i.get("name") or ""), "qty": i.get("qty"),
                   "price": str(i.get("price") or "")}
                  for i in order.get("items") or [] if isinstance(i, dict)],
        "carrier": order.get("carrier"),
        "tracking_number": order.get("tracking_number"),
        "tracking_latest": ({"time": latest.get("time"), "location": latest.get("location"),
                             "description": latest.get("description")} if latest else None),
        "eta": order.get("eta"),
        "recipient": address.get("name") if isinstance(address, dict) else None,
    }
