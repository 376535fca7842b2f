"""E-invoices on built trackers against the real demo shop API."""
from __future__ import annotations

import pytest

from bot.actions.confirmation import ActionKeepOrder
from bot.actions.invoice import ActionInvoice, ValidateInvoiceForm, is_tax_number
from bot.clients.shop_api import ShopApiClient
from shop_api.seed import scenario
from tests.actions.journey_helpers import (
    ask_then_confirm,
    confirmed,
    run_action,
    run_form,
    texts,
    tracker,
)

TAX_NUMBER = "91440300MA5G2RNT42"


@pytest.fixture(autouse=True)
def point_to_shop(shop_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in shop_api.items():
        monkeypatch.setenv(key, value)


def test_tax_number_check_character() -> None:
    assert is_tax_number(TAX_NUMBER) and not is_tax_number("91440300MA5G2RNT43")
    assert not is_tax_number("123") and not is_tax_number("91440300MA5G2RNTI2")


def test_change_or_issue_from_the_words_and_the_orders_invoice() -> None:
    order_id = scenario("invoice_issued")
    slots, _ = run_form(ValidateInvoiceForm(), tracker(f"订单{order_id}的发票抬头开错了",
                                                       "request_invoice", order_id=order_id))
    assert slots["invoice_action"] == "change" and slots["invoice_status"] == "issued"
    slots, _ = run_form(ValidateInvoiceForm(), tracker("开发票", "request_invoice",
                                                       order_id=scenario("invoice_none")))
    assert slots["invoice_action"] == "issue" and slots["invoice_status"] == "none"
    assert slots["requested_slot"] == "title_type"


def test_wrong_tax_number_is_explained_and_counted() -> None:
    current = tracker("91440300MA5G2RNT43", order_id=scenario("invoice_none"),
                      invoice_action="issue", invoice_status="none", title_type="company",
                      invoice_title="深圳市某某科技有限公司")
    slots, messages = run_form(ValidateInvoiceForm(), current, "tax_number", fresh=())
    assert slots["tax_number"] is None and slots["lookup_attempts"] == 1
    assert messages[-1]["response"] == "utter_tax_number_invalid"


def test_existing_invoice_is_shown_without_questions() -> None:
    _, messages = run_action(ActionInvoice(), tracker(order_id=scenario("invoice_issued"),
                                                      invoice_action="issue"))
    text = texts(messages)
    assert "发票已开具" in text and "下载" in text and "王芳" in text


def test_company_invoice_requested_for_a_delivered_order() -> None:
    order_id = scenario("invoice_none")
    _, messages = run_action(ActionInvoice(), tracker(
        order_id=order_id, invoice_action="issue", title_type="company",
        invoice_title="深圳市某某科技有限公司", tax_number=TAX_NUMBER))
    assert "电子发票已申请" in texts(messages) and TAX_NUMBER in texts(messages)
    invoice = ShopApiClient.from_env().invoice(order_id)
    assert invoice.status == "issued" and invoice.tax_number == TAX_NUMBER


def test_reissue_limit_and_no_invoice_to_change() -> None:
    _, messages = run_action(ActionInvoice(), tracker(order_id=scenario("invoice_reissued"),
                                                      invoice_action="change"))
    assert "不能再换开" in texts(messages)
    _, messages = run_action(ActionInvoice(), tracker(order_id=scenario("shipped"),
                                                      invoice_action="change"))
    assert "还没有开过发票" in texts(messages)


def test_pending_invoice_takes_the_new_title() -> None:
    order_id = scenario("invoice_pending")
    asked, messages = ask_then_confirm(ActionInvoice(), tracker(
        order_id=order_id, invoice_action="change", title_type="personal",
        invoice_title="张伟伟"))
    assert "新抬头：个人「张伟伟」" in texts(asked) and "确认修改发票抬头吗" in texts(asked)
    assert "已修改发票抬头" in texts(messages)
    assert ShopApiClient.from_env().invoice(order_id).title == "张伟伟"


def test_issued_invoice_is_voided_only_after_an_explicit_yes() -> None:
    order_id = scenario("invoice_issued")
    before = ShopApiClient.from_env().invoice(order_id)
    slots, asked = run_action(ActionInvoice(), tracker(
        order_id=order_id, invoice_action="change", title_type="company",
        invoice_title="杭州某某网络有限公司", tax_number=TAX_NUMBER))
    assert "原发票作废" in texts(asked) and "确认修改发票抬头吗" in texts(asked)
    after = ShopApiClient.from_env().invoice(order_id)
    assert after.invoice_number == before.invoice_number and after.reissue_count == 0
    _, kept = run_action(ActionKeepOrder(), confirmed(slots, prompt="action_invoice"))
    assert kept[0]["response"] == "utter_change_kept"
    assert ShopApiClient.from_env().invoice(order_id).title == before.title


def test_unpaid_and_too_old_orders_get_no_invoice() -> None:
    _, messages = run_action(ActionInvoice(), tracker(
        order_id=scenario("payment_failed_limit"), invoice_action="issue"))
    assert "付款后才能申请发票" in texts(messages)
    _, messages = run_action(ActionInvoice(), tracker(
        order_id=scenario("warranty_expired"), invoice_action="issue"))
    assert "不能再申请发票" in texts(messages)


def test_company_name_is_taken_as_title_even_if_it_looks_like_a_question() -> None:
    current = tracker("青岛海之蓝贸易有限公司", "faq", confidence=1.0,
                      order_id=scenario("invoice_none"), invoice_action="issue",
                      invoice_status="none", title_type="company")
    slots, _ = run_form(ValidateInvoiceForm(), current, "invoice_title", fresh=())
    assert slots["invoice_title"] == "青岛海之蓝贸易有限公司"
    current = tracker("91440300MA5G2RNT43", "inform", order_id=scenario("invoice_none"),
                      invoice_action="issue", invoice_status="none", title_type="company")
    slots, messages = run_form(ValidateInvoiceForm(), current, "invoice_title", fresh=())
    assert slots["invoice_title"] is None
    assert messages[-1]["response"] == "utter_invoice_title_invalid"
