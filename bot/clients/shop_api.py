"""Typed client of the shop API (contract: shop_api/openapi.yaml) for the bot's actions."""
from __future__ import annotations

import logging
import types
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from bot.settings import SHOP_API_URL, ActionSettings
from contracts.errors import error_code

logger = logging.getLogger(__name__)

DEFAULT_URL = SHOP_API_URL
RETRY_PAUSE = 0.2


class _Retry(Retry):
    """urllib3's Retry, pausing RETRY_PAUSE before the first retry too (urllib3 retries the
    first time at once), so a shop API that is restarting has a moment."""

    def get_backoff_time(self) -> float:
        return max(super().get_backoff_time(), RETRY_PAUSE if self.history else 0.0)


# One retry after a network error (connect or read, including a timeout) or a 5xx answer, for
# reads and for POSTs: every POST this client sends carries an Idempotency-Key (`_post`), so the
# server replays its first answer instead of doing a change twice. A 4xx is never retried. The
# last 5xx answer comes back as a response (raise_on_status=False) for `_answer` to map; a
# Retry-After header is not waited for (the customer is waiting).
RETRY = _Retry(total=1, connect=1, read=1, status=1, other=0, redirect=0,
               status_forcelist=range(500, 600), allowed_methods=frozenset({"GET", "POST"}),
               raise_on_status=False, respect_retry_after_header=False)


class ShopApiUnavailable(Exception):  # noqa: N818 (name is part of the bot's contract)
    """The shop API could not answer: network down, timeout, 5xx or a malformed answer."""


class ShopApiError(Exception):
    """The shop API refused a request (4xx) with a machine-readable code."""

    def __init__(
        self, code: str, message: str, status: int, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.code, self.message, self.status = code, message, status
        self.details = details or {}


@dataclass(frozen=True)
class OrderItem:
    """One line of an order."""

    sku: str
    name: str
    qty: int
    price: Decimal


@dataclass(frozen=True)
class Address:
    """A delivery address; the phone is masked."""

    name: str
    phone: str
    province: str
    city: str
    detail: str


@dataclass(frozen=True)
class DeliverySlot:
    """A booked delivery day and time window such as "18:00-21:00"."""

    date: date
    window: str


@dataclass(frozen=True)
class TrackingEvent:
    """One step of a parcel's journey."""

    time: datetime
    location: str
    description: str


@dataclass(frozen=True)
class Order:
    """An order with its delivery; `state` and `allowed_actions` use the API's English enums."""

    order_id: str
    state: str
    amount: Decimal
    payment_method: str | None
    created_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    items: list[OrderItem]
    address: Address
    delivery_slot: DeliverySlot | None
    carrier: str | None
    tracking_number: str | None
    tracking_events: list[TrackingEvent]
    eta: date | None
    return_deadline: date | None
    allowed_actions: list[str]

    @property
    def latest_event(self) -> TrackingEvent | None:
        """The newest tracking event, if the parcel has any."""
        return self.tracking_events[0] if self.tracking_events else None

    def allows(self, action: str) -> bool:
        """Whether the order's state allows `action` (cancel, refund, return, ...) now."""
        return action in self.allowed_actions


@dataclass(frozen=True)
class Payment:
    """A payment attempt; `failure_code` tells why a failed one failed."""

    payment_id: str
    order_id: str
    status: str
    method: str
    amount: Decimal
    failure_code: str | None
    created_at: datetime
    refund_id: str | None


@dataclass(frozen=True)
class Refund:
    """A refund and when the money should arrive."""

    refund_id: str
    order_id: str
    payment_id: str | None
    kind: str
    status: str
    amount: Decimal
    method: str
    reason: str
    rejection_reason: str | None
    created_at: datetime
    expected_arrival: date | None
    completed_at: datetime | None


@dataclass(frozen=True)
class AfterSalesCase:
    """A return, exchange, repair or delivery-issue case."""

    case_id: str
    order_id: str
    type: str
    reason: str
    description: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class Account:
    """The account behind a phone number; `registered` is false when there is none."""

    phone: str
    registered: bool
    phone_bound: bool
    locked: bool
    locked_until: datetime | None
    lock_reason: str | None
    real_name_verified: bool
    created_at: datetime | None


@dataclass(frozen=True)
class Invoice:
    """The e-invoice of an order: `pending` until delivery, then `issued` with its number."""

    order_id: str
    title_type: str
    title: str
    tax_number: str | None
    email: str | None
    status: str
    invoice_number: str | None
    amount: Decimal
    issued_at: datetime | None
    reissue_count: int
    created_at: datetime


@dataclass(frozen=True)
class CancelResult:
    """A cancelled order and the refunds the cancellation opened."""

    order: Order
    refunds: list[Refund]


class ShopApiClient:
    """Calls the shop API with timeouts, one retry (RETRY, mounted on the session), and errors
    the bot can explain."""

    def __init__(
        self, base_url: str, token: str, timeout: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.mount(self.base_url + "/", HTTPAdapter(max_retries=RETRY))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ShopApiClient:
        """A client configured by SHOP_API_URL and SHOP_API_TOKEN."""
        settings = ActionSettings.from_env(environ, refuse=False)
        return cls(settings.shop_api_url, settings.shop_api_token)

    # ---- reads -----------------------------------------------------------------------

    def health(self) -> bool:
        """Whether the shop API is up."""
        try:
            return self._send("GET", "/health").get("status") == "ok"
        except (ShopApiUnavailable, ShopApiError):
            return False

    def order(self, order_id: str) -> Order:
        """One order; ShopApiError `order_not_found` when there is none."""
        return _build(Order, self._send("GET", f"/orders/{quote(order_id, safe='')}"))

    def orders_by_phone(self, phone: str, limit: int = 5) -> list[Order]:
        """A customer's most recent orders, newest first."""
        body = self._send("GET", "/orders", params={"phone": phone, "limit": limit})
        return [_build(Order, item) for item in _list(body, "orders")]

    def is_owner(self, order_id: str, phone: str) -> bool:
        """Whether the order was placed with this phone; ShopApiError `order_not_found`."""
        body = self._send("GET", f"/orders/{quote(order_id, safe='')}/owner",
                          params={"phone": phone})
        return body.get("owner") is True

    def payments(self, order_id: str) -> list[Payment]:
        """Every payment attempt of an order, oldest first."""
        body = self._send("GET", f"/orders/{quote(order_id, safe='')}/payments")
        return [_build(Payment, item) for item in _list(body, "payments")]

    def refunds(self, order_id: str) -> list[Refund]:
        """Every refund of an order, newest first."""
        body = self._send("GET", f"/orders/{quote(order_id, safe='')}/refunds")
        return [_build(Refund, item) for item in _list(body, "refunds")]

    def refund(self, refund_id: str) -> Refund:
        """One refund; ShopApiError `refund_not_found` when there is none."""
        return _build(Refund, self._send("GET", f"/refunds/{quote(refund_id, safe='')}"))

    def after_sales(self, order_id: str) -> list[AfterSalesCase]:
        """Every after-sales case of an order, newest first."""
        body = self._send("GET", f"/orders/{quote(order_id, safe='')}/after-sales")
        return [_build(AfterSalesCase, item) for item in _list(body, "cases")]

    def invoice(self, order_id: str) -> Invoice:
        """The e-invoice of an order; ShopApiError `invoice_not_found` when none was requested."""
        return _build(Invoice, self._send("GET", f"/orders/{quote(order_id, safe='')}/invoice"))

    def account(self, phone: str) -> Account:
        """The account registered with a phone number."""
        return _build(Account, self._send("GET", "/accounts", params={"phone": phone}))

    # ---- changes (idempotent: safe to retry with the same key) -----------------------

    def cancel_order(
        self, order_id: str, reason: str = "", idempotency_key: str | None = None
    ) -> CancelResult:
        """Cancel an order that has not shipped; payments taken are refunded automatically."""
        body = {"reason": reason} if reason else {}
        answer = self._post(f"/orders/{quote(order_id, safe='')}/cancel", body, idempotency_key)
        return _build(CancelResult, answer)

    def change_address(
        self, order_id: str, address: Mapping[str, str], idempotency_key: str | None = None
    ) -> Order:
        """Deliver an order that has not shipped to a new address or recipient.

        `address` has the fields that change: province, city and detail together, and/or
        name, phone (all 11 digits). Fields left out keep their value.
        """
        answer = self._post(f"/orders/{quote(order_id, safe='')}/address", dict(address),
                            idempotency_key)
        return _build(Order, answer)

    def change_delivery_slot(
        self, order_id: str, day: date, window: str, idempotency_key: str | None = None
    ) -> Order:
        """Book the delivery day and time window ("09:00-12:00", ...) of an unshipped order."""
        body = {"date": day.isoformat(), "window": window}
        answer = self._post(f"/orders/{quote(order_id, safe='')}/delivery-slot", body,
                            idempotency_key)
        return _build(Order, answer)

    def open_refund(
        self, order_id: str, reason: str, amount: Decimal | None = None,
        idempotency_key: str | None = None,
    ) -> Refund:
        """Open a refund, for the whole refundable amount unless `amount` is given."""
        body: dict[str, Any] = {"reason": reason}
        if amount is not None:
            body["amount"] = f"{Decimal(amount):.2f}"
        answer = self._post(f"/orders/{quote(order_id, safe='')}/refunds", body, idempotency_key)
        return _build(Refund, answer)

    def open_after_sales(
        self, order_id: str, case_type: str, reason: str, description: str = "",
        idempotency_key: str | None = None,
    ) -> AfterSalesCase:
        """Open a return, exchange, repair or delivery_issue case."""
        body = {"type": case_type, "reason": reason, "description": description}
        answer = self._post(f"/orders/{quote(order_id, safe='')}/after-sales", body,
                            idempotency_key)
        return _build(AfterSalesCase, answer)

    def request_invoice(
        self, order_id: str, title_type: str, title: str, tax_number: str | None = None,
        email: str | None = None, idempotency_key: str | None = None,
    ) -> Invoice:
        """Request the e-invoice of an order (`personal` or `company` with its tax number)."""
        body = _title_body(title_type, title, tax_number)
        if email:
            body["email"] = email
        answer = self._post(f"/orders/{quote(order_id, safe='')}/invoice", body, idempotency_key)
        return _build(Invoice, answer)

    def change_invoice_title(
        self, order_id: str, title_type: str, title: str, tax_number: str | None = None,
        idempotency_key: str | None = None,
    ) -> Invoice:
        """Change the title or tax number; an issued invoice is re-issued (once per order)."""
        answer = self._post(f"/orders/{quote(order_id, safe='')}/invoice/title",
                            _title_body(title_type, title, tax_number), idempotency_key)
        return _build(Invoice, answer)

    # ---- transport -------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any], key: str | None) -> dict[str, Any]:
        # The key makes a retry after a lost answer safe: the server replays the first one.
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        return self._send("POST", path, json=body, headers=headers)

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send a request (the session's adapter retries once: RETRY); map errors to
        exceptions."""
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        if method == "POST" and "Idempotency-Key" not in headers:
            raise ValueError("a POST to the shop API needs an Idempotency-Key (it is retried)")
        try:
            response = self.session.request(
                method, self.base_url + path, headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as error:
            failure = f"{type(error).__name__}: {error}"
        else:
            if response.status_code < 500:
                return _answer(response)
            failure = f"HTTP {response.status_code}"
        logger.warning("shop API %s %s failed after a retry: %s", method, path, failure)
        raise ShopApiUnavailable(f"{method} {path}: {failure}")


def _answer(response: requests.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer, or the ShopApiError of a 4xx one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        code = error_code(body)
        if code:
            raise ShopApiError(code, body.get("message", ""), response.status_code,
                               body.get("details"))
        raise ShopApiError(f"http_{response.status_code}", response.text[:200],
                           response.status_code)
    if not isinstance(body, dict):
        raise ShopApiUnavailable(f"not a JSON object from {response.url}")
    return body


def _title_body(title_type: str, title: str, tax_number: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"title_type": title_type, "title": title}
    if tax_number:
        body["tax_number"] = tax_number
    return body


def _list(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = body.get(key)
    if not isinstance(items, list):
        raise ShopApiUnavailable(f"the answer has no list {key!r}")
    return items


def _build(cls: type, data: Any) -> Any:
    """A dataclass from a JSON object; absent fields are None, unknown ones are ignored."""
    if not isinstance(data, dict):
        raise ShopApiUnavailable(f"expected a JSON object for {cls.__name__}")
    hints = _hints(cls)
    try:
        return cls(**{f.name: _convert(hints[f.name], data.get(f.name)) for f in fields(cls)})
    except (TypeError, ValueError, ArithmeticError) as error:
        raise ShopApiUnavailable(f"malformed {cls.__name__}: {error}") from error


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _convert(kind: Any, value: Any) -> Any:
    if value is None:
        return [] if get_origin(kind) is list else None
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        return _convert(next(arg for arg in get_args(kind) if arg is not type(None)), value)
    if origin is list:
        return [_convert(get_args(kind)[0], item) for item in value]
    if isinstance(kind, type) and is_dataclass(kind):
        return _build(kind, value)
    if kind is Decimal:
        return Decimal(str(value))
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    return value
