"""The bot's shop API client against the real server, a dead port and a misbehaving server."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from bot.clients.shop_api import (
    DEFAULT_URL,
    AfterSalesCase,
    CancelResult,
    Order,
    ShopApiClient,
    ShopApiError,
    ShopApiUnavailable,
)
from shop_api import rules
from shop_api.seed import scenario
from tests.shop_api.conftest import ShopServer, free_port


@pytest.fixture(scope="module")
def client(shop_server: ShopServer) -> ShopApiClient:
    """A client of the module's real server."""
    return ShopApiClient(shop_server.url, shop_server.token, timeout=5)


def china_today() -> date:
    """Today in China."""
    return datetime.now(rules.CHINA_TZ).date()


# ---- reads -----------------------------------------------------------------------------


def test_health(client: ShopApiClient) -> None:
    assert client.health() is True


def test_order_is_typed(client: ShopApiClient) -> None:
    order = client.order(scenario("shipped"))
    assert isinstance(order, Order) and order.state == "shipped"
    assert isinstance(order.amount, Decimal) and isinstance(order.created_at, datetime)
    assert order.items[0].price == order.amount and order.items[0].qty == 1
    assert order.address.phone == "138****5678" and order.delivery_slot is None
    assert order.latest_event is not None and order.latest_event.time.tzinfo is not None
    assert isinstance(order.eta, date)
    assert order.allows("delivery_issue") and not order.allows("cancel")


def test_orders_by_phone(client: ShopApiClient) -> None:
    orders = client.orders_by_phone(scenario("customer_with_history"), limit=3)
    assert len(orders) == 3 and orders[0].created_at >= orders[1].created_at
    assert client.orders_by_phone(scenario("unregistered")) == []


def test_duplicate_charge_and_its_refund(client: ShopApiClient) -> None:
    payments = client.payments(scenario("duplicate_charge"))
    assert [p.status for p in payments] == ["success", "success"]
    refund = client.refund(payments[1].refund_id)
    assert refund.kind == "duplicate_charge" and refund.status == "processing"
    assert isinstance(refund.expected_arrival, date)
    assert client.refunds(scenario("duplicate_charge")) == [refund]


def test_failed_payment_code(client: ShopApiClient) -> None:
    (payment,) = client.payments(scenario("payment_failed_risk"))
    assert (payment.status, payment.failure_code) == ("failed", "risk_control")


def test_after_sales_and_accounts(client: ShopApiClient) -> None:
    (case,) = client.after_sales(scenario("exchange_in_progress"))
    assert isinstance(case, AfterSalesCase) and case.status == "in_progress"
    locked = client.account(scenario("account_locked"))
    assert locked.locked and isinstance(locked.locked_until, datetime)
    assert client.account(scenario("unregistered")).registered is False


# ---- changes ---------------------------------------------------------------------------


def test_cancel_then_cancel_again(client: ShopApiClient) -> None:
    result = client.cancel_order(scenario("paid"), reason="不想要了")
    assert isinstance(result, CancelResult) and result.order.state == "cancelled"
    assert [r.status for r in result.refunds] == ["processing"]
    with pytest.raises(ShopApiError) as caught:
        client.cancel_order(scenario("paid"))
    assert (caught.value.code, caught.value.status) == ("already_cancelled", 409)
    assert caught.value.details == {"state": "cancelled"}


def test_same_idempotency_key_is_safe_to_resend(client: ShopApiClient) -> None:
    first = client.cancel_order(scenario("pending_payment"), idempotency_key="conv-1:cancel")
    again = client.cancel_order(scenario("pending_payment"), idempotency_key="conv-1:cancel")
    assert again == first


def test_change_address_and_slot(client: ShopApiClient) -> None:
    address = {"name": "李娜", "phone": "13987654321", "province": "浙江省", "city": "杭州市",
               "detail": "滨江区网商路699号"}
    order = client.change_address(scenario("paid_after_retry"), address)
    assert order.address.city == "杭州市" and order.address.phone == "139****4321"
    day = china_today() + timedelta(days=3)
    order = client.change_delivery_slot(scenario("paid_after_retry"), day, "18:00-21:00")
    assert order.delivery_slot is not None and order.delivery_slot.date == day
    assert order.eta == day


def test_open_refund_and_after_sales(client: ShopApiClient) -> None:
    refund = client.open_refund(scenario("delivered"), "鞋底开胶", amount=Decimal("100"))
    assert refund.amount == Decimal("100.00") and refund.status == "pending"
    case = client.open_after_sales(scenario("delivered_not_received"), "delivery_issue",
                                   "显示签收但没收到", "快递柜里没有找到")
    assert case.case_id.startswith(f"AS{china_today():%Y%m%d}") and case.status == "open"


# ---- errors ----------------------------------------------------------------------------


def test_not_found_bad_request_and_bad_token(client: ShopApiClient, shop_server) -> None:
    with pytest.raises(ShopApiError) as caught:
        client.order("100000000000")
    assert (caught.value.code, caught.value.status) == ("order_not_found", 404)
    with pytest.raises(ShopApiError) as caught:
        client.orders_by_phone("12345")
    assert (caught.value.code, caught.value.status) == ("invalid_request", 400)
    with pytest.raises(ShopApiError) as caught:
        ShopApiClient(shop_server.url, "wrong-token").order(scenario("shipped"))
    assert (caught.value.code, caught.value.status) == ("unauthorized", 401)


def test_nothing_listening_is_unavailable_fast() -> None:
    dead = ShopApiClient(f"http://127.0.0.1:{free_port()}", "token", timeout=2)
    started = time.monotonic()
    with pytest.raises(ShopApiUnavailable):
        dead.order("573262229751")
    with pytest.raises(ShopApiUnavailable):
        dead.cancel_order("573262229751")
    assert time.monotonic() - started < 3
    assert dead.health() is False


# ---- a misbehaving server --------------------------------------------------------------


class Flaky:
    """A local HTTP server (pytest-httpserver) answering from a script of (status, body,
    delay); `seen` is what it received: (method, Idempotency-Key) per request."""

    def __init__(self, server: HTTPServer) -> None:
        self.server, self.script = server, []
        self.url = server.url_for("/").rstrip("/")
        server.expect_request(re.compile("/.*")).respond_with_handler(self._answer)

    def _answer(self, request: Request) -> Response:
        status, body, delay = self.script.pop(0) if self.script else (200, b"{}", 0)
        time.sleep(delay)
        return Response(body, status, content_type="application/json")

    @property
    def seen(self) -> list[tuple[str, str | None]]:
        return [(request.method, request.headers.get("Idempotency-Key"))
                for request, _ in self.server.log]


@pytest.fixture(scope="module")
def flaky_server() -> Iterator[HTTPServer]:
    """One threaded server for the module (a retry may arrive while a slow answer sleeps)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def flaky(flaky_server: HTTPServer) -> Flaky:
    """The module's server with a fresh script and log."""
    flaky_server.clear()
    return Flaky(flaky_server)


ERROR_503 = (503, b'{"error": "internal_error", "message": "busy"}', 0)
CASE = (b'{"case_id": "AS202611220001", "order_id": "573262229751", "type": "delivery_issue",'
        b' "reason": "r", "description": "", "status": "open",'
        b' "created_at": "2026-11-22T10:00:00+08:00"}')


def test_get_is_retried_once_after_5xx(flaky: Flaky) -> None:
    flaky.script = [ERROR_503, (200, b'{"refunds": []}', 0)]
    assert ShopApiClient(flaky.url, "t").refunds("573262229751") == []
    assert len(flaky.seen) == 2


def test_two_5xx_make_the_api_unavailable(flaky: Flaky) -> None:
    flaky.script = [ERROR_503, ERROR_503, ERROR_503]
    with pytest.raises(ShopApiUnavailable):
        ShopApiClient(flaky.url, "t").refunds("573262229751")
    assert len(flaky.seen) == 2


def test_post_is_retried_with_the_same_idempotency_key(flaky: Flaky) -> None:
    flaky.script = [ERROR_503, (201, CASE, 0)]
    case = ShopApiClient(flaky.url, "t").open_after_sales("573262229751", "delivery_issue", "r")
    assert case.case_id == "AS202611220001"
    (method, key), retry = flaky.seen
    assert method == "POST" and key and retry == ("POST", key)


def test_4xx_is_not_retried(flaky: Flaky) -> None:
    flaky.script = [(409, b'{"error": "already_shipped", "message": "shipped"}', 0)]
    with pytest.raises(ShopApiError) as caught:
        ShopApiClient(flaky.url, "t").cancel_order("573262229751")
    assert caught.value.code == "already_shipped" and len(flaky.seen) == 1


@pytest.mark.parametrize("call", ["read", "keyed post"])
def test_400_is_answered_at_once_and_503_then_200_is_retried(
        flaky: Flaky, call: str) -> None:
    client = ShopApiClient(flaky.url, "t")
    send = {"read": lambda: client.refunds("573262229751"),
            "keyed post": lambda: client.open_after_sales("573262229751", "delivery_issue", "r",
                                                          idempotency_key="k-1")}[call]
    flaky.script = [(400, b'{"error": "invalid_request", "message": "bad"}', 0), ERROR_503]
    with pytest.raises(ShopApiError) as caught:
        send()
    assert caught.value.code == "invalid_request" and len(flaky.seen) == 1
    flaky.script = [ERROR_503, (201, CASE, 0) if call == "keyed post" else
                    (200, b'{"refunds": []}', 0)]
    send()
    assert len(flaky.seen) == 3
    assert {key for _, key in flaky.seen[1:]} == ({"k-1"} if call == "keyed post" else {None})


def test_a_timed_out_read_is_retried(flaky: Flaky) -> None:
    flaky.script = [(200, b'{"refunds": []}', 1.0), (200, b'{"refunds": []}', 0)]
    assert ShopApiClient(flaky.url, "t", timeout=0.3).refunds("573262229751") == []
    assert flaky.script == []  # both answers taken (the log has the slow one only when sent)


def test_timeout_is_unavailable(flaky: Flaky) -> None:
    flaky.script = [(200, b'{"refunds": []}', 1.0), (200, b'{"refunds": []}', 1.0)]
    started = time.monotonic()
    with pytest.raises(ShopApiUnavailable):
        ShopApiClient(flaky.url, "t", timeout=0.3).refunds("573262229751")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"orders": "none"}',
                                  b'{"orders": [{"amount": "abc"}]}'])
def test_malformed_answer_is_unavailable(flaky: Flaky, body: bytes) -> None:
    flaky.script = [(200, body, 0)]
    with pytest.raises(ShopApiUnavailable):
        ShopApiClient(flaky.url, "t").orders_by_phone("13812345678")


def test_error_without_json_body(flaky: Flaky) -> None:
    flaky.script = [(403, b"forbidden by proxy", 0)]
    with pytest.raises(ShopApiError) as caught:
        ShopApiClient(flaky.url, "t").order("573262229751")
    assert (caught.value.code, caught.value.status) == ("http_403", 403)


# ---- configuration ---------------------------------------------------------------------


def test_from_env() -> None:
    client = ShopApiClient.from_env({"SHOP_API_URL": "http://shop.example:9000/",
                                     "SHOP_API_TOKEN": "secret"})
    assert (client.base_url, client.token) == ("http://shop.example:9000", "secret")
    assert ShopApiClient.from_env({}).base_url == DEFAULT_URL


def test_invoice_request_and_title_change(client: ShopApiClient) -> None:
    invoice = client.invoice(scenario("invoice_pending"))
    assert invoice.status == "pending" and invoice.invoice_number is None
    changed = client.change_invoice_title(scenario("invoice_pending"), "company",
                                          "深圳市某某科技有限公司", "91440300MA5G2RNT42")
    assert changed.tax_number == "91440300MA5G2RNT42" and changed.title_type == "company"
    new = client.request_invoice(scenario("invoice_none"), "personal", "周杰",
                                 email="zhou@example.com")
    assert new.status == "issued" and new.amount > 0 and new.invoice_number
    with pytest.raises(ShopApiError) as error:
        client.invoice(scenario("shipped"))
    assert error.value.code == "invoice_not_found"
