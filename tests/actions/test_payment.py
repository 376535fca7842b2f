"""Payment failures and charges on built trackers against the real demo shop API."""
from __future__ import annotations

import pytest

from bot.actions.payment import (
    ActionPaymentCharged,
    ActionPaymentFailed,
    ValidatePaymentFailedForm,
    fix_for,
)
from shop_api.seed import scenario
from tests.actions.journey_helpers import choice, run_action, run_form, texts, tracker
from tests.responses import rendered


@pytest.fixture(autouse=True)
def point_to_shop(shop_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in shop_api.items():
        monkeypatch.setenv(key, value)


def method(value: str) -> list[dict]:
    return [{"entity": "payment_method", "value": value}]


def test_method_and_error_from_one_message() -> None:
    current = tracker("微信支付失败了 提示余额不足", "payment_failed", method("wechat_pay"),
                      payment_method="wechat_pay")
    slots, _ = run_form(ValidatePaymentFailedForm(), current, fresh=("payment_method",))
    assert slots["payment_method"] == "wechat_pay"
    assert slots["payment_error"] == "insufficient_balance"


def test_typed_payload_with_an_unknown_method_is_refused() -> None:
    current = tracker('/inform{"payment_method":"bitcoin"}', "inform", method("bitcoin"),
                      payment_method="bitcoin")
    slots, _ = run_form(ValidatePaymentFailedForm(), current, "payment_method",
                        fresh=("payment_method",))
    assert slots["payment_method"] is None


def test_error_from_a_button_or_unknown_words() -> None:
    form = ValidatePaymentFailedForm()
    slots, _ = run_form(form, tracker("/inform", entities=choice("risk_control"),
                                      payment_method="credit_card"), "payment_error")
    assert slots["payment_error"] == "risk_control"
    slots, _ = run_form(form, tracker("它就是不行", "nlu_fallback", payment_method="alipay"),
                        "payment_error")
    assert slots["payment_error"] == "other"


def test_order_number_fills_method_and_error_from_the_payment_record() -> None:
    text = f"订单{scenario('payment_failed_card_online')}付不了款"
    slots, _ = run_form(ValidatePaymentFailedForm(), tracker(text, "payment_failed"))
    assert slots["payment_error"] == "card_not_enabled_online"
    assert slots["payment_method"] == "bank_card"


@pytest.mark.parametrize(("error", "method", "words"), [
    ("insufficient_balance", "alipay", "余额宝"),
    ("insufficient_balance", "huabei", "花呗可用额度"),
    ("limit_exceeded", "bank_card", "限额"),
    ("card_not_enabled_online", "bank_card", "开通"),
    ("network_timeout", "alipay", "重复付款"),
    ("risk_control", "credit_card", "身份验证"),
    ("order_expired", "alipay", "重新下单"),
])
def test_fix_matches_error_and_method(error: str, method: str, words: str) -> None:
    assert words in rendered(fix_for(error, method))


def test_fix_is_sent_and_the_answers_are_forgotten() -> None:
    slots, messages = run_action(ActionPaymentFailed(), tracker(
        payment_method="wechat_pay", payment_error="insufficient_balance"))
    assert "微信零钱" in texts(messages)
    assert slots["payment_error"] is None and slots["payment_method"] is None


def test_charged_twice_explains_the_automatic_refund() -> None:
    _, messages = run_action(ActionPaymentCharged(),
                             tracker(order_id=scenario("duplicate_charge")))
    text = texts(messages)
    assert "扣了 2 次款" in text and "第2笔" in text and "预计" in text and "自动原路退回" in text


def test_charged_but_unpaid_explains_the_delay_and_the_refund() -> None:
    _, messages = run_action(ActionPaymentCharged(),
                             tracker(order_id=scenario("charged_but_unpaid")))
    text = texts(messages)
    assert "扣款成功" in text and "请不要重复付款" in text and "自动原路退回支付宝" in text


def test_no_charge_on_record_and_single_charge() -> None:
    _, messages = run_action(ActionPaymentCharged(),
                             tracker(order_id=scenario("payment_failed_limit")))
    assert "没有成功的扣款记录" in texts(messages)
    _, messages = run_action(ActionPaymentCharged(), tracker(order_id=scenario("shipped")))
    assert "只有一笔扣款" in texts(messages)


def test_an_unknown_payment_method_is_named_in_words() -> None:
    from bot.actions.payment import method_name

    assert method_name("alipay") == "支付宝" and method_name("debit_card") == "银行卡（储蓄卡）"
    assert method_name("jd_baitiao") == "白条"
    assert method_name("paypal") == "原支付方式" and method_name(None) == "原支付方式"
