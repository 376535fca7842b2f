"""Refund requests on built trackers against the real demo shop API."""
from __future__ import annotations

import pytest

from bot.actions.confirmation import ActionConfirmChange
from bot.actions.refund_request import ActionRefundRequest, ValidateRefundRequestForm
from bot.clients.shop_api import ShopApiClient
from shop_api.seed import scenario
from tests.actions.journey_helpers import choice, confirmed, run_action, run_form, texts, tracker


@pytest.fixture(autouse=True)
def point_to_shop(shop_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in shop_api.items():
        monkeypatch.setenv(key, value)


def test_reason_from_button_words_or_free_text() -> None:
    form = ValidateRefundRequestForm()
    order = {"order_id": scenario("return_window_ending")}
    slots, _ = run_form(form, tracker("/inform", entities=choice("quality"), **order),
                        "refund_reason")
    assert slots["refund_reason"] == "商品有质量问题"
    slots, _ = run_form(form, tracker("拍错了不想要了", "request_refund", **order))
    assert slots["refund_reason"] == "不想要了/拍错了"
    slots, _ = run_form(form, tracker("朋友送了一个一样的", "inform", **order), "refund_reason")
    assert slots["refund_reason"] == "朋友送了一个一样的"


def test_unshipped_order_refund_confirmed_then_opened() -> None:
    order_id = scenario("paid_after_retry")
    slots, messages = run_action(ActionRefundRequest(),
                                 tracker(order_id=order_id, refund_reason="不想要了/拍错了"))
    text = texts(messages)
    assert "确认申请退款吗" in text and "原路退回支付宝" in text and "立即退款" in text
    assert ShopApiClient.from_env().refunds(order_id) == []
    _, messages = run_action(ActionConfirmChange(), confirmed(slots, "action_refund_request"))
    text = texts(messages)
    assert "退款单号 RF" in text and "预计" in text
    [refund] = ShopApiClient.from_env().refunds(order_id)
    assert refund.reason == "不想要了/拍错了" and refund.status == "processing"


def test_shipped_order_gets_the_alternatives() -> None:
    slots, _ = run_form(ValidateRefundRequestForm(),
                        tracker(scenario("shipped"), order_id=scenario("shipped")))
    assert slots["order_blocker"] == "shipped"
    _, messages = run_action(ActionRefundRequest(), tracker(order_id=scenario("shipped")))
    assert "拒收" in texts(messages) and "直接退款" in texts(messages)


def test_unpaid_and_already_refunding_orders() -> None:
    _, messages = run_action(ActionRefundRequest(),
                             tracker(order_id=scenario("payment_failed_balance")))
    assert "还没有付款" in texts(messages) and "取消订单" in texts(messages)
    _, messages = run_action(ActionRefundRequest(),
                             tracker(order_id=scenario("refund_processing_credit_card")))
    assert "已经有退款了" in texts(messages) and "预计" in texts(messages)


def test_refund_after_the_return_window_points_to_repair() -> None:
    _, messages = run_action(ActionRefundRequest(),
                             tracker(order_id=scenario("return_window_expired")))
    assert "已超过 7 天无理由退货期" in texts(messages) and "保修维修" in texts(messages)
