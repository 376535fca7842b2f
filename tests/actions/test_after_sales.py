"""Returns, exchanges and repairs on built trackers against the real demo shop API."""
from __future__ import annotations

import pytest

from bot.actions.after_sales import (
    ActionAfterSales,
    ActionAskAfterSalesReason,
    ValidateAfterSalesForm,
)
from bot.clients.shop_api import ShopApiClient
from shop_api.seed import scenario
from tests.actions.journey_helpers import (
    ask_then_confirm,
    choice,
    run_action,
    run_form,
    texts,
    tracker,
)


@pytest.fixture(autouse=True)
def point_to_shop(shop_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in shop_api.items():
        monkeypatch.setenv(key, value)


def test_kind_and_reason_from_the_words() -> None:
    slots, _ = run_form(ValidateAfterSalesForm(), tracker("鞋子偏小想换货", "request_return"))
    assert slots["after_sales_type"] == "exchange"
    assert slots["after_sales_reason"] == "尺码或颜色不合适"
    slots, _ = run_form(ValidateAfterSalesForm(), tracker("耳机坏了要保修", "request_return"))
    assert slots["after_sales_type"] == "repair"


def test_policy_with_the_orders_deadline_before_the_reason() -> None:
    current = tracker(order_id=scenario("return_window_ending"), after_sales_type="return")
    _, messages = run_action(ActionAskAfterSalesReason(), current)
    assert "7天无理由" in texts(messages) and "前都可以申请" in texts(messages)
    assert "最高补贴 20 元" in texts(messages) and "来回运费由我们承担" not in texts(messages)
    assert messages[-1]["response"] == "utter_ask_after_sales_reason"


def test_return_opened_with_door_pickup() -> None:
    order_id = scenario("return_window_ending")
    asked, messages = ask_then_confirm(ActionAfterSales(), tracker(
        order_id=order_id, after_sales_type="return", after_sales_reason="尺码或颜色不合适",
        pickup_method="door"))
    assert "确认提交退货退款申请吗" in texts(asked) and "上门取件" in texts(asked)
    text = texts(messages)
    assert "退货退款申请" in text and "售后单号 AS" in text and "上门取件" in text
    [case] = [c for c in ShopApiClient.from_env().after_sales(order_id) if c.type == "return"]
    assert case.description == "取件方式：上门取件"


def test_return_window_passed_offers_repair() -> None:
    order_id = scenario("return_window_expired")
    slots, _ = run_form(ValidateAfterSalesForm(), tracker(
        "/inform", entities=choice("return"), order_id=order_id), "after_sales_type",
        fresh=())
    assert slots["order_blocker"] == "delivered"
    _, messages = run_action(ActionAfterSales(), tracker(order_id=order_id,
                                                         after_sales_type="return"))
    assert "签收已超过 7 天" in texts(messages) and "申请维修" in texts(messages)


def test_warranty_over_and_not_delivered() -> None:
    _, messages = run_action(ActionAfterSales(), tracker(order_id=scenario("warranty_expired"),
                                                         after_sales_type="repair"))
    assert "保修期" in texts(messages) and "转人工" in texts(messages)
    _, messages = run_action(ActionAfterSales(), tracker(order_id=scenario("shipped"),
                                                         after_sales_type="return"))
    assert "签收后申请" in texts(messages) and "拒收" in texts(messages)


def test_exchange_already_in_progress() -> None:
    _, messages = run_action(ActionAfterSales(), tracker(
        order_id=scenario("exchange_in_progress"), after_sales_type="exchange",
        after_sales_reason="尺码", pickup_method="self"))
    assert messages[0]["response"] == "utter_after_sales_case_exists"


def test_dont_want_it_answers_the_reason_question_but_a_plain_no_does_not() -> None:
    order = {"order_id": scenario("delivered"), "after_sales_type": "return"}
    slots, _ = run_form(ValidateAfterSalesForm(), tracker("不想要了", "deny", **order),
                        "after_sales_reason", fresh=())
    assert slots["after_sales_reason"] == "无理由退换（不想要了）"
    slots, _ = run_form(ValidateAfterSalesForm(), tracker("算了", "deny", **order),
                        "after_sales_reason", fresh=())
    assert not slots.get("after_sales_reason")


def test_request_in_progress_stops_the_questions() -> None:
    current = tracker("想换个尺码", "request_return", order_id=scenario("exchange_in_progress"))
    slots, _ = run_form(ValidateAfterSalesForm(), current)
    assert slots["after_sales_type"] == "exchange" and slots["order_blocker"] == "case_open"
