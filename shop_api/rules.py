"""Business rules of the shop: which action each order state allows, windows, refund timing."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from shop_api.errors import ShopError

CHINA_TZ = timezone(timedelta(hours=8), "CST")
RETURN_WINDOW_DAYS = 7  # 七天无理由退货
WARRANTY_DAYS = 365
REFUND_REVIEW_DAYS = 2  # a pending refund is reviewed within two days
SLOT_HORIZON_DAYS = 14
INVOICE_WINDOW_DAYS = 180  # an invoice can be requested up to 180 days after delivery
INVOICE_REISSUE_LIMIT = 1  # an issued invoice may be re-issued (new title or tax number) once
# An invoice is for goods the customer keeps paying for: not before payment, not once refunded.
INVOICE_STATES = {"paid", "shipped", "out_for_delivery", "delivered"}
DELIVERY_WINDOWS = ("09:00-12:00", "12:00-18:00", "18:00-21:00")
PAYMENT_METHODS = ("alipay", "wechat_pay", "debit_card", "credit_card")
# Days until a refund reaches the customer once processing starts, and whether they are
# working days: e-wallets are fastest, bank cards take 3-7 working days, credit cards up to 15.
REFUND_ARRIVAL = {
    "alipay": (3, False),
    "wechat_pay": (3, False),
    "debit_card": (7, True),
    "credit_card": (15, False),
}

STATES = (
    "pending_payment", "paid", "shipped", "out_for_delivery",
    "delivered", "cancelled", "refunding", "refunded",
)
ACTIONS = (
    "cancel", "change_address", "change_delivery_slot", "refund",
    "return", "exchange", "repair", "delivery_issue",
)
_ALLOWED = {
    "cancel": {"pending_payment", "paid"},
    "change_address": {"pending_payment", "paid"},
    "change_delivery_slot": {"pending_payment", "paid"},
    "refund": {"paid", "delivered"},
    "return": {"delivered"},
    "exchange": {"delivered"},
    "repair": {"delivered"},
    "delivery_issue": {"shipped", "out_for_delivery", "delivered"},
}
# Windows that start at delivery, per action, with the code when they have passed.
_WINDOWS = {
    "refund": (RETURN_WINDOW_DAYS, "return_window_expired"),
    "return": (RETURN_WINDOW_DAYS, "return_window_expired"),
    "exchange": (RETURN_WINDOW_DAYS, "return_window_expired"),
    "repair": (WARRANTY_DAYS, "warranty_expired"),
}
_DENIED = {
    "pending_payment": "not_paid",
    "paid": "not_shipped",
    "shipped": "already_shipped",
    "out_for_delivery": "already_shipped",
    "delivered": "already_delivered",
    "cancelled": "already_cancelled",
    "refunding": "refund_exists",
    "refunded": "already_refunded",
}
_NOT_DELIVERED = {"paid": "not_delivered", "shipped": "not_delivered",
                  "out_for_delivery": "not_delivered"}
_DENIED_FOR_ACTION = {"return": _NOT_DELIVERED, "exchange": _NOT_DELIVERED,
                      "repair": _NOT_DELIVERED}

MESSAGES = {
    "not_paid": "The order has not been paid yet.",
    "not_shipped": "The order has not shipped yet.",
    "not_delivered": "The order has not been delivered yet.",
    "already_shipped": "The order has already shipped; it can no longer be changed or cancelled.",
    "already_delivered": "The order has already been delivered.",
    "already_cancelled": "The order is cancelled.",
    "refund_exists": "A refund for this order is already in progress.",
    "already_refunded": "The order has already been refunded.",
    "return_window_expired": f"The {RETURN_WINDOW_DAYS}-day return window has passed.",
    "warranty_expired": f"The {WARRANTY_DAYS}-day warranty has expired.",
    "case_exists": "An open after-sales case of this type already exists for the order.",
    "full_refund_only": "An order that has not shipped can only be refunded in full.",
    "amount_exceeds_refundable": "The amount is more than what is left to refund.",
    "nothing_to_refund": "Nothing is left to refund on this order.",
    "idempotency_key_reused": "This Idempotency-Key was used for a different request.",
    "invoice_exists": "The order already has an invoice; change its title instead.",
    "invoice_window_expired": f"Invoices can be requested up to {INVOICE_WINDOW_DAYS} days"
                              " after delivery.",
    "reissue_limit_reached": f"An invoice can be re-issued {INVOICE_REISSUE_LIMIT} time(s).",
}


def conflict(code: str, details: dict | None = None) -> ShopError:
    """A 409 for a state that does not allow the request."""
    return ShopError(409, code, MESSAGES[code], details)


def denial(action: str, state: str, delivered_at: datetime | None, now: datetime) -> str | None:
    """The code explaining why `action` is not allowed on an order, or None when it is."""
    if state not in _ALLOWED[action]:
        return _DENIED_FOR_ACTION.get(action, {}).get(state, _DENIED[state])
    if state == "delivered" and action in _WINDOWS and delivered_at is not None:
        days, code = _WINDOWS[action]
        if now > delivered_at + timedelta(days=days):
            return code
    return None


def allowed_actions(state: str, delivered_at: datetime | None, now: datetime) -> list[str]:
    """Every action the order allows right now, for the bot to offer."""
    return [action for action in ACTIONS if denial(action, state, delivered_at, now) is None]


def require(action: str, state: str, delivered_at: datetime | None, now: datetime) -> None:
    """Raise a 409 when the order's state does not allow `action`."""
    code = denial(action, state, delivered_at, now)
    if code:
        raise conflict(code, {"state": state})


def invoice_denial(state: str, delivered_at: datetime | None, now: datetime) -> str | None:
    """The code explaining why an invoice cannot be requested for an order, or None."""
    if state not in INVOICE_STATES:
        return _DENIED[state]
    if delivered_at is not None and now > delivered_at + timedelta(days=INVOICE_WINDOW_DAYS):
        return "invoice_window_expired"
    return None


def return_deadline(delivered_at: datetime | None) -> date | None:
    """Last day of the return window of a delivered order."""
    return (delivered_at + timedelta(days=RETURN_WINDOW_DAYS)).date() if delivered_at else None


def refund_arrival(method: str, start: date) -> date:
    """Latest day a refund started on `start` reaches the customer by `method`."""
    days, working = REFUND_ARRIVAL[method]
    if not working:
        return start + timedelta(days=days)
    day = start
    while days:
        day += timedelta(days=1)
        days -= day.weekday() < 5  # public holidays are ignored in the demo
    return day


def expected_arrival(method: str, status: str, created: date) -> date | None:
    """Expected arrival of a refund: after review when pending, none once rejected."""
    if status == "rejected":
        return None
    review = REFUND_REVIEW_DAYS if status == "pending" else 0
    return refund_arrival(method, created + timedelta(days=review))
