"""Refund-status action against the real demo shop API (seeded scenarios)."""
from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.refund_status import ActionRefundStatus
from shop_api.seed import scenario
from tests.responses import message_text


@pytest.fixture(autouse=True)
def point_to_shop(shop_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in shop_api.items():
        monkeypatch.setenv(key, value)


def run(**slots: Any) -> list[dict[str, Any]]:
    message = {"intent": {"name": "ask_refund_status"}, "entities": [], "text": ""}
    tracker = Tracker("c1", slots, message, [], False, None, {"name": "action_listen"},
                      "action_listen")
    dispatcher = CollectingDispatcher()
    ActionRefundStatus().run(dispatcher, tracker, {})
    return dispatcher.messages


def test_processing_refund_gets_method_and_expected_arrival() -> None:
    text = message_text(run(order_id=scenario("refund_processing_credit_card"))[0])
    assert "退款处理中" in text and "信用卡" in text and "预计" in text and "到账" in text


def test_refunded_order_says_when_and_where_to_look() -> None:
    messages = run(order_id=scenario("refunded_wechat"))
    assert "已退款" in message_text(messages[0]) and "微信支付" in message_text(messages[0])
    assert messages[1]["response"] == "utter_refund_arrived_where"


def test_rejected_refund_gives_the_reason() -> None:
    assert "未通过" in message_text(run(order_id=scenario("refund_rejected"))[0])


def test_duplicate_charge_refund_is_named_as_such() -> None:
    assert "重复扣款退回" in message_text(run(order_id=scenario("duplicate_charge"))[0])


def test_order_without_refund_says_how_to_apply() -> None:
    [message] = run(order_id=scenario("shipped"))
    assert message["response"] == "utter_no_refund"


def test_shop_api_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_API_URL", "http://127.0.0.1:9")
    [message] = run(order_id=scenario("refunded_wechat"))
    assert message["response"] == "utter_shop_api_down"
