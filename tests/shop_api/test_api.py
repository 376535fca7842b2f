"""The shop API over real HTTP: seed, state machine, errors, idempotency and the contract.

Each test that changes an order uses its own order, so tests do not depend on their order.
"""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from shop_api import rules
from shop_api.app import ROUTES
from shop_api.seed import CUSTOMERS, SCENARIOS, UNREGISTERED_PHONE, scenario
from tests.shop_api.conftest import ROOT, Api
from tests.shop_api.openapi_check import OpenApi

# Orders no test changes, one per state.
STATE_WITNESSES = {
    "pending_payment": "payment_failed_limit",
    "paid": "duplicate_charge",
    "shipped": "shipped",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered_not_received",
    "cancelled": "cancelled_unpaid",
    "refunding": "refund_pending",
    "refunded": "refunded_wechat",
}


def order(api: Api, key: str) -> dict:
    """The order of a demo scenario."""
    return api.get(f"/orders/{scenario(key)}")


def post_order(api: Api, key: str, action: str, body: object = None, **kwargs: object):
    """POST an operation on the order of a demo scenario."""
    return api.post(f"/orders/{scenario(key)}/{action}", body, **kwargs)


def assert_conflict(response, code: str) -> None:
    """A 409 with the expected machine-readable code."""
    assert response.status_code == 409, response.text
    assert response.json()["error"] == code


def today() -> date:
    """Today in China, as the server sees it."""
    return datetime.now(rules.CHINA_TZ).date()


# ---- seed ----------------------------------------------------------------------------


def test_health_is_public(api: Api) -> None:
    response = api.session.get(api.server.url + "/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_every_state_is_seeded(api: Api) -> None:
    states = {key: order(api, key)["state"] for key in STATE_WITNESSES.values()}
    assert sorted(states.values()) == sorted(rules.STATES)
    assert all(states[key] == state for state, key in STATE_WITNESSES.items())


def test_at_least_40_orders_and_customers_with_several(api: Api) -> None:
    counts = {
        who: len(api.get("/orders", params={"phone": c.phone, "limit": 20})["orders"])
        for who, c in CUSTOMERS.items()
    }
    assert sum(counts.values()) >= 40
    assert sum(count >= 3 for count in counts.values()) >= 3


def test_orders_of_a_customer_newest_first_with_limit(api: Api) -> None:
    orders = api.get("/orders", params={"phone": scenario("customer_with_history"),
                                        "limit": 4})["orders"]
    assert len(orders) == 4
    created = [item["created_at"] for item in orders]
    assert created == sorted(created, reverse=True)
    assert api.get("/orders", params={"phone": UNREGISTERED_PHONE})["orders"] == []


def test_owner_check_is_the_phone_the_order_was_placed_with(api: Api) -> None:
    shipped = scenario("shipped")  # placed with customer_with_history's phone
    owner = scenario("customer_with_history")
    assert api.get(f"/orders/{shipped}/owner", params={"phone": owner})["owner"] is True
    other = api.get(f"/orders/{shipped}/owner", params={"phone": "13811115678"})
    assert other == {"order_id": shipped, "owner": False}  # same masked form, not the owner
    assert api.call("GET", f"/orders/{shipped}/owner", params={"phone": "12"}).status_code == 400
    assert api.call("GET", "/orders/999999999999/owner",
                    params={"phone": owner}).status_code == 404


def test_order_shows_masked_phone_items_and_tracking(api: Api) -> None:
    shipped = order(api, "shipped")
    assert shipped["address"]["phone"] == "138****5678"
    assert shipped["carrier"] == "顺丰速运" and shipped["tracking_number"].startswith("SF")
    times = [event["time"] for event in shipped["tracking_events"]]
    assert times == sorted(times, reverse=True) and len(times) >= 3
    assert shipped["eta"] >= today().isoformat()
    assert order(api, "shipped_stuck")["eta"] < today().isoformat()
    delivered = order(api, "delivered")
    assert "签收" in delivered["tracking_events"][0]["description"]
    assert delivered["return_deadline"] > today().isoformat()


def test_payment_failures_duplicates_and_unnoticed_charges(api: Api) -> None:
    codes = set()
    for item in SCENARIOS:
        if item.key.startswith("payment_"):
            payments = api.get(f"/orders/{item.value}/payments")["payments"]
            codes |= {p["failure_code"] for p in payments if p["status"] == "failed"}
    assert codes == {"insufficient_balance", "limit_exceeded", "card_not_enabled_online",
                     "network_timeout", "risk_control", "order_expired"}
    duplicate = api.get(f"/orders/{scenario('duplicate_charge')}/payments")["payments"]
    assert [p["status"] for p in duplicate] == ["success", "success"]
    refund = api.get(f"/refunds/{duplicate[1]['refund_id']}")
    assert (refund["kind"], refund["status"]) == ("duplicate_charge", "processing")
    charged = api.get(f"/orders/{scenario('charged_but_unpaid')}/payments")["payments"]
    assert order(api, "charged_but_unpaid")["state"] == "pending_payment"
    assert [p["status"] for p in charged] == ["success"]


def test_refunds_in_every_state_with_arrival_per_method(api: Api) -> None:
    refunds = [
        refund for item in SCENARIOS if item.value.isdigit() and len(item.value) == 12
        for refund in api.get(f"/orders/{item.value}/refunds")["refunds"]
    ]
    assert {r["status"] for r in refunds} == {"pending", "processing", "succeeded", "rejected"}
    assert {r["method"] for r in refunds} == set(rules.PAYMENT_METHODS)
    for refund in refunds:
        created = datetime.fromisoformat(refund["created_at"]).date()
        if refund["status"] == "rejected":
            assert refund["expected_arrival"] is None and refund["rejection_reason"]
            continue
        days = (date.fromisoformat(refund["expected_arrival"]) - created).days
        limit = {"alipay": 3, "wechat_pay": 3, "debit_card": 11, "credit_card": 15}
        review = rules.REFUND_REVIEW_DAYS if refund["status"] == "pending" else 0
        assert 1 <= days <= limit[refund["method"]] + review, refund


def test_accounts(api: Api) -> None:
    def account(key: str) -> dict:
        return api.get("/accounts", params={"phone": scenario(key)})

    locked = account("account_locked")
    assert locked["locked"] and locked["lock_reason"] == "too_many_password_attempts"
    assert datetime.fromisoformat(locked["locked_until"]) > datetime.now(rules.CHINA_TZ)
    risk = account("account_risk_locked")
    assert risk["locked"] and risk["locked_until"] is None and risk["lock_reason"] == "risk_control"
    assert account("account_unverified")["real_name_verified"] is False
    assert account("account_phone_not_bound")["phone_bound"] is False
    unregistered = account("unregistered")
    assert unregistered["registered"] is False and unregistered["phone"] == "137****9999"
    # A temporary lock that has run out no longer locks the account.
    assert api.get("/accounts", params={"phone": CUSTOMERS["wu"].phone})["locked"] is False


# ---- cancel, address, delivery slot --------------------------------------------------


def test_cancel_unpaid_order(api: Api) -> None:
    response = post_order(api, "pending_payment", "cancel", {"reason": "不想要了"})
    assert response.status_code == 200
    result = response.json()
    assert result["order"]["state"] == "cancelled" and result["refunds"] == []
    assert result["order"]["cancel_reason"] == "不想要了"
    assert result["order"]["allowed_actions"] == []


def test_cancel_paid_order_refunds_automatically(api: Api) -> None:
    response = post_order(api, "paid", "cancel")
    assert response.status_code == 200
    (refund,) = response.json()["refunds"]
    assert refund["kind"] == "cancellation" and refund["status"] == "processing"
    assert refund["amount"] == order(api, "paid")["amount"] and refund["method"] == "alipay"
    assert refund["expected_arrival"] == (today() + timedelta(days=3)).isoformat()
    payments = api.get(f"/orders/{scenario('paid')}/payments")["payments"]
    assert payments[-1]["refund_id"] == refund["refund_id"]


def test_cancel_returns_a_charge_the_order_never_saw(api: Api) -> None:
    response = post_order(api, "charged_but_unpaid", "cancel")
    assert response.status_code == 200
    assert [r["kind"] for r in response.json()["refunds"]] == ["cancellation"]


@pytest.mark.parametrize(("key", "code"), [
    ("shipped", "already_shipped"),
    ("out_for_delivery", "already_shipped"),
    ("delivered_not_received", "already_delivered"),
    ("cancelled_unpaid", "already_cancelled"),
    ("refund_pending", "refund_exists"),
    ("refunded_wechat", "already_refunded"),
])
def test_cancel_forbidden_after_shipping_or_refund(api: Api, key: str, code: str) -> None:
    response = post_order(api, key, "cancel")
    assert_conflict(response, code)
    assert response.json()["details"]["state"] == order(api, key)["state"]


NEW_ADDRESS = {"name": "张伟", "phone": "13912345678", "province": "上海市", "city": "上海市",
               "detail": "徐汇区漕溪北路88号圣爱大厦1205室"}


def test_change_address_before_shipping(api: Api) -> None:
    response = post_order(api, "payment_failed_balance", "address", NEW_ADDRESS)
    assert response.status_code == 200
    address = response.json()["address"]
    assert address == {**NEW_ADDRESS, "phone": "139****5678"}
    assert order(api, "payment_failed_balance")["address"] == address


def test_change_address_forbidden_after_shipping(api: Api) -> None:
    assert_conflict(post_order(api, "shipped", "address", NEW_ADDRESS), "already_shipped")
    assert order(api, "shipped")["address"]["city"] == "北京市"


@pytest.mark.parametrize("body", [
    {**NEW_ADDRESS, "phone": "1391234"},
    {**NEW_ADDRESS, "detail": ""},
    {key: value for key, value in NEW_ADDRESS.items() if key != "city"},
    {},
    {"name": "   "},
])
def test_change_address_rejects_bad_fields(api: Api, body: dict) -> None:
    response = post_order(api, "payment_failed_limit", "address", body)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_change_delivery_slot_before_shipping(api: Api) -> None:
    day = (today() + timedelta(days=2)).isoformat()
    response = post_order(api, "paid_after_retry", "delivery-slot",
                          {"date": day, "window": "09:00-12:00"})
    assert response.status_code == 200
    changed = response.json()
    assert changed["delivery_slot"] == {"date": day, "window": "09:00-12:00"}
    assert changed["eta"] == day


@pytest.mark.parametrize("body", [
    {"date": "2020-01-01", "window": "09:00-12:00"},
    {"date": "next week", "window": "09:00-12:00"},
    {"date": (date.today() + timedelta(days=40)).isoformat(), "window": "09:00-12:00"},
    {"date": (date.today() + timedelta(days=3)).isoformat(), "window": "08:00-09:00"},
])
def test_change_delivery_slot_rejects_bad_fields(api: Api, body: dict) -> None:
    response = post_order(api, "duplicate_charge", "delivery-slot", body)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_change_delivery_slot_forbidden_once_out_for_delivery(api: Api) -> None:
    body = {"date": (today() + timedelta(days=2)).isoformat(), "window": "18:00-21:00"}
    assert_conflict(post_order(api, "out_for_delivery", "delivery-slot", body), "already_shipped")


# ---- refunds ---------------------------------------------------------------------------


def test_refund_paid_order_in_full_then_once_only(api: Api) -> None:
    response = post_order(api, "paid_debit_card", "refunds", {"reason": "拍错了"})
    assert response.status_code == 201
    refund = response.json()
    assert refund["status"] == "processing" and refund["method"] == "debit_card"
    assert refund["expected_arrival"] == rules.refund_arrival("debit_card", today()).isoformat()
    assert refund["amount"] == order(api, "paid_debit_card")["amount"]
    assert order(api, "paid_debit_card")["state"] == "refunding"
    again = post_order(api, "paid_debit_card", "refunds", {"reason": "拍错了"})
    assert_conflict(again, "refund_exists")


def test_refund_paid_order_only_in_full(api: Api) -> None:
    response = post_order(api, "duplicate_charge", "refunds", {"reason": "不要了", "amount": "1"})
    assert_conflict(response, "full_refund_only")
    assert response.json()["details"]["refundable"] == order(api, "duplicate_charge")["amount"]


def test_refund_delivered_order_within_window_goes_to_review(api: Api) -> None:
    response = post_order(api, "return_window_ending", "refunds",
                          {"reason": "颜色和图片不一样", "amount": 50.5})
    assert response.status_code == 201
    refund = response.json()
    assert (refund["status"], refund["amount"]) == ("pending", "50.50")
    assert order(api, "return_window_ending")["state"] == "refunding"


def test_refund_cannot_exceed_what_is_left(api: Api) -> None:
    paid = Decimal(order(api, "partial_refund")["amount"])
    response = post_order(api, "partial_refund", "refunds", {"reason": "坏了", "amount": "999.00"})
    assert_conflict(response, "amount_exceeds_refundable")
    assert Decimal(response.json()["details"]["refundable"]) == paid - Decimal("20.00")


def test_rejected_refund_does_not_block_a_new_one(api: Api) -> None:
    response = post_order(api, "refund_rejected", "refunds", {"reason": "质量问题，有色差"})
    assert response.status_code == 201
    assert response.json()["amount"] == order(api, "refund_rejected")["amount"]


@pytest.mark.parametrize(("key", "code"), [
    ("payment_failed_limit", "not_paid"),
    ("shipped", "already_shipped"),
    ("return_window_expired", "return_window_expired"),
    ("cancelled_refunded", "already_cancelled"),
    ("refund_processing_alipay", "refund_exists"),
    ("refunded_credit_card", "already_refunded"),
])
def test_refund_forbidden(api: Api, key: str, code: str) -> None:
    assert_conflict(post_order(api, key, "refunds", {"reason": "想退款"}), code)


@pytest.mark.parametrize("body", [
    {"amount": "10.00"}, {"reason": "x", "amount": "-5"}, {"reason": "x", "amount": "1.234"},
    {"reason": "x", "amount": "abc"}, {"reason": "x", "amount": True}, {"reason": ""},
])
def test_refund_rejects_bad_fields(api: Api, body: dict) -> None:
    response = post_order(api, "delivered_not_received", "refunds", body)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


# ---- after-sales ----------------------------------------------------------------------


def test_return_within_window_once(api: Api) -> None:
    body = {"type": "return", "reason": "尺码不合适", "description": "鞋子偏小半码"}
    response = post_order(api, "delivered", "after-sales", body)
    assert response.status_code == 201
    case = response.json()
    assert re.fullmatch(rf"AS{today():%Y%m%d}\d{{4}}", case["case_id"])
    assert case["status"] == "open" and case["type"] == "return"
    listed = api.get(f"/orders/{scenario('delivered')}/after-sales")["cases"]
    assert case in listed
    again = post_order(api, "delivered", "after-sales", body)
    assert_conflict(again, "case_exists")
    assert again.json()["details"]["case_id"] == case["case_id"]


def test_after_return_window_only_repair(api: Api) -> None:
    body = {"type": "exchange", "reason": "想换个颜色"}
    assert_conflict(post_order(api, "return_window_expired", "after-sales", body),
                    "return_window_expired")
    repair = {"type": "repair", "reason": "无法开机"}
    assert post_order(api, "return_window_expired", "after-sales", repair).status_code == 201
    assert_conflict(post_order(api, "warranty_expired", "after-sales", repair), "warranty_expired")


def test_delivery_issue_once_shipped(api: Api) -> None:
    body = {"type": "delivery_issue", "reason": "物流好几天没更新"}
    assert post_order(api, "shipped_stuck", "after-sales", body).status_code == 201
    assert_conflict(post_order(api, "duplicate_charge", "after-sales", body), "not_shipped")
    assert_conflict(post_order(api, "payment_failed_limit", "after-sales", body), "not_paid")


@pytest.mark.parametrize(("key", "kind", "code"), [
    ("shipped", "return", "not_delivered"),
    ("out_for_delivery", "repair", "not_delivered"),
    ("exchange_in_progress", "exchange", "case_exists"),
    ("refunded_wechat", "return", "already_refunded"),
    ("cancelled_unpaid", "delivery_issue", "already_cancelled"),
])
def test_after_sales_forbidden(api: Api, key: str, kind: str, code: str) -> None:
    response = post_order(api, key, "after-sales", {"type": kind, "reason": "有问题"})
    assert_conflict(response, code)


def test_allowed_actions_follow_the_rules(api: Api) -> None:
    assert order(api, "delivered_not_received")["allowed_actions"] == [
        "refund", "return", "exchange", "repair", "delivery_issue"]
    assert order(api, "return_window_expired")["allowed_actions"] == ["repair", "delivery_issue"]
    assert order(api, "payment_failed_limit")["allowed_actions"] == [
        "cancel", "change_address", "change_delivery_slot"]


# ---- errors ----------------------------------------------------------------------------


def test_unknown_order_and_refund(api: Api) -> None:
    response = api.call("GET", "/orders/100000000000")
    assert response.status_code == 404 and response.json()["error"] == "order_not_found"
    assert api.post("/orders/100000000000/cancel").json()["error"] == "order_not_found"
    response = api.call("GET", "/refunds/RF000")
    assert response.status_code == 404 and response.json()["error"] == "refund_not_found"


@pytest.mark.parametrize("path", ["/orders/12345", "/orders/abcdefghijkl/payments"])
def test_malformed_order_number(api: Api, path: str) -> None:
    response = api.call("GET", path)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_malformed_json(api: Api, raw: bytes) -> None:
    response = api.call("POST", f"/orders/{scenario('payment_failed_limit')}/after-sales",
                        data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("params", [{}, {"phone": "12345"}, {"phone": "13812345678", "limit": 0}])
def test_bad_query(api: Api, params: dict) -> None:
    response = api.call("GET", "/orders", params=params)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic test-shop-token",
                                           "test-shop-token"])
def test_token_required(api: Api, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = api.session.get(f"{api.server.url}/orders/{scenario('shipped')}", headers=headers,
                               timeout=5)
    api.spec.check(response)
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_unknown_route_and_method(api: Api) -> None:
    assert api.call("GET", "/nothing").status_code == 404
    response = api.call("DELETE", f"/orders/{scenario('shipped')}")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


def test_chinese_is_readable_in_the_body(api: Api) -> None:
    response = api.call("GET", f"/orders/{scenario('shipped')}")
    assert "顺丰速运".encode() in response.content
    assert "charset=utf-8" in response.headers["content-type"]


# ---- idempotency -----------------------------------------------------------------------


def test_replayed_cancel_returns_the_first_answer(api: Api) -> None:
    key = {"Idempotency-Key": "cancel-370011135033-1"}
    first = post_order(api, "payment_failed_timeout", "cancel", {"reason": "重新下单"}, headers=key)
    replay = post_order(api, "payment_failed_timeout", "cancel", {"reason": "重新下单"},
                        headers=key)
    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = post_order(api, "payment_failed_timeout", "cancel", {"reason": "别的"}, headers=key)
    assert_conflict(other, "idempotency_key_reused")
    assert_conflict(post_order(api, "payment_failed_timeout", "cancel"), "already_cancelled")


def test_replayed_refund_opens_one_refund(api: Api) -> None:
    key = {"Idempotency-Key": "refund-569006026773"}
    body = {"reason": "买错型号了"}
    first = post_order(api, "paid_credit_card", "refunds", body, headers=key).json()
    replay = post_order(api, "paid_credit_card", "refunds", body, headers=key)
    assert replay.status_code == 201 and replay.json() == first
    refunds = api.get(f"/orders/{scenario('paid_credit_card')}/refunds")["refunds"]
    assert [r["refund_id"] for r in refunds] == [first["refund_id"]]


def test_replayed_conflict_is_kept(api: Api) -> None:
    key = {"Idempotency-Key": "cancel-shipped"}
    first = post_order(api, "shipped", "cancel", headers=key)
    replay = post_order(api, "shipped", "cancel", headers=key)
    assert_conflict(replay, "already_shipped")
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"


# ---- contract --------------------------------------------------------------------------


def test_routes_and_contract_match(spec: OpenApi) -> None:
    served = {(method, re.sub(r"<(\w+)>", r"{\1}", uri)) for uri, method, _ in ROUTES}
    assert served == set(spec.operations())


def test_every_documented_operation_answers(api: Api, spec: OpenApi) -> None:
    slot = {"date": (today() + timedelta(days=1)).isoformat(), "window": "12:00-18:00"}
    requests_by_operation = {
        ("GET", "/health"): ("/health", None),
        ("GET", "/orders"): (f"/orders?phone={scenario('customer_with_history')}", None),
        ("GET", "/orders/{order_id}"): (f"/orders/{scenario('shipped')}", None),
        ("GET", "/orders/{order_id}/owner"): (
            f"/orders/{scenario('shipped')}/owner?phone=13800000000", None),
        ("GET", "/orders/{order_id}/payments"): (
            f"/orders/{scenario('duplicate_charge')}/payments", None),
        ("GET", "/orders/{order_id}/refunds"): (
            f"/orders/{scenario('refund_rejected')}/refunds", None),
        ("POST", "/orders/{order_id}/refunds"): (
            f"/orders/{scenario('delivery_issue_open')}/refunds", {"reason": "少件"}),
        ("GET", "/refunds/{refund_id}"): (f"/refunds/RF{scenario('refunded_debit_card')}01", None),
        ("GET", "/orders/{order_id}/after-sales"): (
            f"/orders/{scenario('exchange_in_progress')}/after-sales", None),
        ("POST", "/orders/{order_id}/after-sales"): (
            "/orders/959225646924/after-sales", {"type": "repair", "reason": "拉链坏了"}),
        ("POST", "/orders/{order_id}/cancel"): (
            f"/orders/{scenario('payment_failed_card_online')}/cancel", {}),
        ("POST", "/orders/{order_id}/address"): (
            f"/orders/{scenario('payment_failed_risk')}/address", NEW_ADDRESS),
        ("POST", "/orders/{order_id}/delivery-slot"): (
            f"/orders/{scenario('payment_failed_risk')}/delivery-slot", slot),
        ("GET", "/accounts"): (f"/accounts?phone={scenario('account_locked')}", None),
        ("GET", "/orders/{order_id}/invoice"): (
            f"/orders/{scenario('invoice_issued')}/invoice", None),
        ("POST", "/orders/{order_id}/invoice"): (
            f"/orders/{scenario('invoice_none')}/invoice",
            {"title_type": "personal", "title": "周杰"}),
        ("POST", "/orders/{order_id}/invoice/title"): (
            f"/orders/{scenario('invoice_pending')}/invoice/title",
            {"title_type": "company", "title": "北京某某科技有限公司",
             "tax_number": "91440300MA5G2RNT42"}),
    }
    assert set(requests_by_operation) == set(spec.operations())
    for (method, _), (path, body) in requests_by_operation.items():
        response = api.call(method, path, json=body)  # checked against the contract
        assert response.status_code in (200, 201), (method, path, response.text)


def test_production_refuses_the_development_token(tmp_path: Path) -> None:
    env = {"APP_ENV": "production", "SHOP_API_TOKEN": "", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "shop_api", "--db", str(tmp_path / "shop.db")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode != 0 and "SHOP_API_TOKEN" in done.stderr
    assert not (tmp_path / "shop.db").exists()
