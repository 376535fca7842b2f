"""Invoices (request, change of title or tax number, re-issue limit) and partial address
changes, over real HTTP against a fresh demo server, every answer checked by the contract."""
from __future__ import annotations

import re

import pytest

from shop_api.seed import scenario
from shop_api.validation import is_tax_number
from tests.shop_api.conftest import Api

COMPANY = {"title_type": "company", "title": "深圳市某某科技有限公司",
           "tax_number": "91440300MA5G2RNT42"}


def path(key: str, suffix: str = "") -> str:
    """The invoice path of a demo scenario's order."""
    return f"/orders/{scenario(key)}/invoice{suffix}"


def assert_error(response, status: int, code: str) -> None:
    """An error answer with the expected status and machine-readable code."""
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


def test_tax_number_check_character() -> None:
    assert is_tax_number("91440300MA5G2RNT42") and is_tax_number("91120104MA05K8XQ35")
    assert not is_tax_number("91440300MA5G2RNT43")  # wrong check character
    assert not is_tax_number("91440300MA5G2RNT4")  # 17 characters
    assert not is_tax_number("9144030OMA5G2RNT42")  # the letter O is not in the alphabet


def test_issued_invoice_is_shown(api: Api) -> None:
    invoice = api.get(path("invoice_issued"))
    assert invoice["status"] == "issued" and invoice["title"] == "王芳"
    assert re.fullmatch(r"\d{20}", invoice["invoice_number"])


def test_order_without_invoice_answers_404(api: Api) -> None:
    assert_error(api.call("GET", path("refund_pending")), 404, "invoice_not_found")
    assert_error(api.call("GET", "/orders/999999999999/invoice"), 404, "order_not_found")


def test_delivered_order_gets_its_invoice_at_once_and_only_one(api: Api) -> None:
    body = {**COMPANY, "tax_number": COMPANY["tax_number"].lower(), "email": "a@example.com"}
    response = api.post(path("delivered_not_received"), body)
    assert response.status_code == 201, response.text
    invoice = response.json()
    assert invoice["status"] == "issued" and invoice["tax_number"] == COMPANY["tax_number"]
    assert invoice["amount"] == api.get(f"/orders/{scenario('delivered_not_received')}")["amount"]
    assert_error(api.post(path("delivered_not_received"), COMPANY), 409, "invoice_exists")


def test_unshipped_order_invoice_waits_for_delivery(api: Api) -> None:
    response = api.post(path("paid_debit_card"), {"title_type": "personal", "title": "王芳"})
    assert response.status_code == 201
    assert response.json()["status"] == "pending" and response.json()["invoice_number"] is None


@pytest.mark.parametrize(("key", "code"), [
    ("payment_failed_limit", "not_paid"),
    ("cancelled_unpaid", "already_cancelled"),
    ("refunded_wechat", "already_refunded"),
    ("warranty_expired", "invoice_window_expired"),
])
def test_invoice_refused_by_the_orders_state(api: Api, key: str, code: str) -> None:
    assert_error(api.post(path(key), {"title_type": "personal", "title": "张三"}), 409, code)


@pytest.mark.parametrize("body", [
    {"title_type": "company", "title": "某公司"},
    {**COMPANY, "tax_number": "123456789012345679"},
    {**COMPANY, "tax_number": "91440300MA5G2RNT4"},
    {"title_type": "personal", "title": "张三", "tax_number": COMPANY["tax_number"]},
    {"title_type": "government", "title": "张三"},
    {"title_type": "personal", "title": ""},
    {"title_type": "personal", "title": "张三", "email": "not-an-email"},
])
def test_bad_titles_and_tax_numbers_are_refused(api: Api, body: dict) -> None:
    assert_error(api.post(path("out_for_delivery"), body), 400, "invalid_request")


def test_issued_invoice_is_reissued_once_with_a_new_number(api: Api) -> None:
    before = api.get(path("invoice_issued"))
    response = api.post(path("invoice_issued", "/title"), COMPANY)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["title"] == COMPANY["title"] and after["reissue_count"] == 1
    assert after["invoice_number"] != before["invoice_number"]
    again = api.post(path("invoice_issued", "/title"), {"title_type": "personal", "title": "王芳"})
    assert_error(again, 409, "reissue_limit_reached")
    assert_error(api.post(path("invoice_reissued", "/title"), COMPANY), 409,
                 "reissue_limit_reached")


def test_pending_invoice_takes_the_new_title_without_reissue(api: Api) -> None:
    response = api.post(path("invoice_pending", "/title"), COMPANY)
    assert response.json()["reissue_count"] == 0 and response.json()["status"] == "pending"
    assert_error(api.post(path("shipped", "/title"), COMPANY), 404, "invoice_not_found")


def test_change_only_the_phone_or_the_place_keeps_the_rest(api: Api) -> None:
    order_path = f"/orders/{scenario('paid_credit_card')}"
    before = api.get(order_path)["address"]
    response = api.post(order_path + "/address", {"phone": "13700001111"})
    assert response.json()["address"] == {**before, "phone": "137****1111"}
    place = {"province": "河北省", "city": "廊坊市", "detail": "广阳区新华路50号"}
    response = api.post(order_path + "/address", place)
    assert response.json()["address"] == {**before, **place, "phone": "137****1111"}
