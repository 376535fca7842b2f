"""HTTP layer of the shop API: an app factory, thin routes and errors mapped in one place."""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.log import error_logger
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from contracts.errors import error_body
from shop_api import rules
from shop_api import validation as check
from shop_api.errors import ShopError
from shop_api.store import Store

PUBLIC_PATHS = {"/health"}
CONTENT_TYPE = "application/json; charset=utf-8"
REPLAY_HEADER = "Idempotent-Replayed"
_CODES = {400: "invalid_request", 401: "unauthorized", 404: "not_found",
          405: "method_not_allowed", 413: "payload_too_large"}
_dumps = partial(json.dumps, ensure_ascii=False)

Operation = Callable[[Store], tuple[int, dict[str, Any]]]
Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]


def create_app(db_path: str, token: str) -> Sanic:
    """The shop API over the SQLite database at `db_path`, guarded by a bearer `token`."""
    if not token:
        raise ValueError("the API token must not be empty")
    app = Sanic(f"shop_api_{uuid.uuid4().hex}")
    app.config.REQUEST_MAX_SIZE = 64 * 1024
    app.ctx.db_path, app.ctx.token = db_path, token
    app.register_listener(_open_store, "before_server_start")
    app.register_listener(_close_store, "after_server_stop")
    app.register_middleware(_authorize, "request")
    app.exception(Exception)(_error)
    for uri, method, handler in ROUTES:
        app.add_route(handler, uri, methods=[method], name=handler.__name__)
    return app


# ---- plumbing ------------------------------------------------------------------------


async def _open_store(app: Sanic, _loop: Any) -> None:
    app.ctx.store = Store(app.ctx.db_path)


async def _close_store(app: Sanic, _loop: Any) -> None:
    app.ctx.store.close()


def _json(body: dict[str, Any], status: int = 200, replayed: bool = False) -> HTTPResponse:
    headers = {REPLAY_HEADER: "true"} if replayed else None
    return json_response(body, status=status, headers=headers, dumps=_dumps,
                         content_type=CONTENT_TYPE)


async def _authorize(request: Request) -> HTTPResponse | None:
    """Let a request through only with `Authorization: Bearer <token>`."""
    if request.path in PUBLIC_PATHS:
        return None
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    expected = request.app.ctx.token
    if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.encode("utf-8", "replace"), expected.encode()):
        return None
    response = _json(error_body("unauthorized", "Missing or wrong bearer token."), 401)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _error(request: Request | None, exception: Exception) -> HTTPResponse:
    """Map every exception to a status code and the shared error body."""
    if isinstance(exception, ShopError):
        return _json(exception.body(), exception.status)
    if isinstance(exception, SanicException):
        status = exception.status_code
        return _json(error_body(_CODES.get(status, "error"), str(exception)), status)
    where = f"{request.method} {request.path}" if request else "a request"
    error_logger.error("unexpected error on %s", where, exc_info=exception)
    return _json(error_body("internal_error", "Unexpected error; try again later."), 500)


def _store(request: Request) -> Store:
    return request.app.ctx.store


def _once(request: Request, operation: Operation) -> HTTPResponse:
    """Run a state change; with an Idempotency-Key, a replay returns the first answer."""
    key = check.idempotency_key(request.headers.get("idempotency-key"))
    store = _store(request)
    if key is None:
        status, body = operation(store)
        return _json(body, status)
    fingerprint = hashlib.sha256(
        b"\n".join([request.method.encode(), request.path.encode(), request.body])
    ).hexdigest()
    with store.transaction():
        saved = store.recall(key)
        if saved is not None:
            if saved.fingerprint != fingerprint:
                raise rules.conflict("idempotency_key_reused")
            return _json(saved.body, saved.status, replayed=True)
        try:
            status, body = operation(store)
        except ShopError as error:
            if error.status != 409:
                raise
            status, body = error.status, error.body()
        store.remember(key, fingerprint, status, body)
    return _json(body, status)


# ---- routes --------------------------------------------------------------------------


async def health(request: Request) -> HTTPResponse:
    """Liveness and database check."""
    _store(request).states()
    return _json({"status": "ok"})


async def list_orders(request: Request) -> HTTPResponse:
    """A customer's recent orders, newest first."""
    phone = check.phone(request.args.get("phone"))
    limit = check.limit(request.args.get("limit"))
    return _json({"orders": _store(request).orders_by_phone(phone, limit)})


async def get_order(request: Request, order_id: str) -> HTTPResponse:
    """One order with items, address, delivery and tracking."""
    return _json(_store(request).order(check.order_id(order_id)))


async def check_owner(request: Request, order_id: str) -> HTTPResponse:
    """Whether the order was placed with this phone (404 when there is no such order)."""
    order_id = check.order_id(order_id)
    phone = check.phone(request.args.get("phone"))
    return _json({"order_id": order_id, "owner": _store(request).is_owner(order_id, phone)})


async def list_payments(request: Request, order_id: str) -> HTTPResponse:
    """Every payment attempt of an order."""
    return _json({"payments": _store(request).payments(check.order_id(order_id))})


async def list_refunds(request: Request, order_id: str) -> HTTPResponse:
    """Every refund of an order."""
    return _json({"refunds": _store(request).refunds(check.order_id(order_id))})


async def get_refund(request: Request, refund_id: str) -> HTTPResponse:
    """One refund."""
    return _json(_store(request).refund(refund_id))


async def list_cases(request: Request, order_id: str) -> HTTPResponse:
    """Every after-sales case of an order."""
    return _json({"cases": _store(request).cases(check.order_id(order_id))})


async def get_account(request: Request) -> HTTPResponse:
    """The account registered with a phone number."""
    return _json(_store(request).account(check.phone(request.args.get("phone"))))


async def cancel_order(request: Request, order_id: str) -> HTTPResponse:
    """Cancel an order that has not shipped."""
    order_id = check.order_id(order_id)
    body = check.json_body(request.body, required=False)
    reason = check.text(body, "reason", 200, required=False)
    return _once(request, lambda store: (200, store.cancel(order_id, reason)))


async def change_address(request: Request, order_id: str) -> HTTPResponse:
    """Change the delivery address of an order that has not shipped."""
    order_id = check.order_id(order_id)
    address = check.address(check.json_body(request.body))
    return _once(request, lambda store: (200, store.change_address(order_id, address)))


async def change_delivery_slot(request: Request, order_id: str) -> HTTPResponse:
    """Book the delivery day and time window of an order that has not shipped."""
    order_id = check.order_id(order_id)
    today = _store(request).now().date()
    day, window = check.delivery_slot(check.json_body(request.body), today)
    return _once(request, lambda store: (200, store.change_delivery_slot(order_id, day, window)))


async def open_refund(request: Request, order_id: str) -> HTTPResponse:
    """Open a refund for an order."""
    order_id = check.order_id(order_id)
    body = check.json_body(request.body)
    amount = check.amount(body.get("amount"))
    reason = check.text(body, "reason", 200)
    return _once(request, lambda store: (201, store.open_refund(order_id, amount, reason)))


async def open_case(request: Request, order_id: str) -> HTTPResponse:
    """Open an after-sales case: return, exchange, repair or delivery issue."""
    order_id = check.order_id(order_id)
    body = check.json_body(request.body)
    kind = check.case_type(body.get("type"))
    reason = check.text(body, "reason", 100)
    description = check.text(body, "description", 1000, required=False)
    return _once(request, lambda store: (201, store.open_case(order_id, kind, reason, description)))


async def get_invoice(request: Request, order_id: str) -> HTTPResponse:
    """The e-invoice of an order."""
    return _json(_store(request).invoice(check.order_id(order_id)))


async def request_invoice(request: Request, order_id: str) -> HTTPResponse:
    """Request the e-invoice of an order."""
    order_id = check.order_id(order_id)
    body = check.json_body(request.body)
    title, email = check.invoice_title(body), check.email(body.get("email"))
    return _once(request, lambda store: (201, store.request_invoice(order_id, title, email)))


async def change_invoice_title(request: Request, order_id: str) -> HTTPResponse:
    """Change the title or tax number of an order's invoice (re-issued when already issued)."""
    order_id = check.order_id(order_id)
    title = check.invoice_title(check.json_body(request.body))
    return _once(request, lambda store: (200, store.change_invoice_title(order_id, title)))


ROUTES: list[tuple[str, str, Handler]] = [
    ("/health", "GET", health),
    ("/orders", "GET", list_orders),
    ("/orders/<order_id>", "GET", get_order),
    ("/orders/<order_id>/owner", "GET", check_owner),
    ("/orders/<order_id>/payments", "GET", list_payments),
    ("/orders/<order_id>/refunds", "GET", list_refunds),
    ("/orders/<order_id>/refunds", "POST", open_refund),
    ("/refunds/<refund_id>", "GET", get_refund),
    ("/orders/<order_id>/after-sales", "GET", list_cases),
    ("/orders/<order_id>/after-sales", "POST", open_case),
    ("/orders/<order_id>/cancel", "POST", cancel_order),
    ("/orders/<order_id>/address", "POST", change_address),
    ("/orders/<order_id>/delivery-slot", "POST", change_delivery_slot),
    ("/orders/<order_id>/invoice", "GET", get_invoice),
    ("/orders/<order_id>/invoice", "POST", request_invoice),
    ("/orders/<order_id>/invoice/title", "POST", change_invoice_title),
    ("/accounts", "GET", get_account),
]
