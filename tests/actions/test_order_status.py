"""Order-status actions against the real demo shop API (seeded scenarios)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.order_lookup import ActionAskOrderId
from bot.actions.order_status import (
    ActionOrderStatus,
    ValidateOrderStatusForm,
    delay_buttons,
    describe,
    is_delayed,
)
from bot.clients.shop_api import ShopApiClient
from bot.core.clock import CHINA, china_today
from shop_api.seed import scenario

DOMAIN: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def point_to_shop(shop_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in shop_api.items():
        monkeypatch.setenv(key, value)


def tracker(**slots: Any) -> Tracker:
    message = {"intent": {"name": "inform"}, "entities": [], "text": ""}
    return Tracker("c1", slots, message, [], False, None, {"name": "action_listen"},
                   "action_listen")


def validate(slot: str, value: str, **slots: Any) -> tuple[dict[str, Any], list[dict]]:
    dispatcher = CollectingDispatcher()
    form = ValidateOrderStatusForm()
    result = getattr(form, f"validate_{slot}")(value, dispatcher, tracker(**slots), DOMAIN)
    return result, dispatcher.messages


def test_existing_order_number_is_accepted_from_a_sentence() -> None:
    order_id = scenario("shipped")
    result, messages = validate("order_id", f"我的单号是{order_id}哈")
    assert result == {"order_id": order_id, "lookup_attempts": 0} and messages == []


def test_wrong_format_and_unknown_orders_are_explained_and_counted() -> None:
    result, messages = validate("order_id", "12345")
    assert result == {"order_id": None, "lookup_attempts": 1}
    assert messages[0]["response"] == "utter_order_id_invalid"
    result, messages = validate("order_id", "999999999999", lookup_attempts=1)
    assert result["lookup_attempts"] == 2 and messages[0]["response"] == "utter_order_not_found"


def test_third_failed_attempt_ends_the_lookup() -> None:
    result, messages = validate("order_id", "12345", lookup_attempts=2)
    assert result["journey_failure"] == "attempts" and messages == []


def test_order_of_someone_elses_phone_is_refused() -> None:
    # "shipped" belongs to 13812345678; the customer said their phone is another one.
    result, messages = validate("order_id", scenario("shipped"), phone="15011112222")
    assert result["order_id"] is None
    assert messages[0]["response"] == "utter_order_not_yours"
    assert messages[0]["phone"] == "150****2222"


def test_known_phone_lists_its_recent_orders_as_buttons() -> None:
    dispatcher = CollectingDispatcher()
    ActionAskOrderId().run(dispatcher, tracker(phone="13812345678"), DOMAIN)
    [message] = dispatcher.messages
    assert message["response"] == "utter_pick_order"
    payloads = [b["payload"] for b in message["buttons"]]
    assert f'/inform{{"order_id":"{scenario("shipped")}"}}' in payloads
    assert 1 <= len(payloads) <= 5


def test_status_answer_names_state_carrier_tracking_and_eta() -> None:
    order_id = scenario("shipped")
    order = ShopApiClient.from_env().order(order_id)
    dispatcher = CollectingDispatcher()
    ActionOrderStatus().run(dispatcher, tracker(order_id=order_id), DOMAIN)
    text = dispatcher.messages[0]["text"]
    assert order_id in text and "运输中" in text and order.carrier in text
    assert order.latest_event.description in text
    assert f"{order.eta:%m月%d日}" in text and order.eta >= date.today()


def test_late_parcel_gets_an_apology_and_next_steps() -> None:
    dispatcher = CollectingDispatcher()
    ActionOrderStatus().run(dispatcher, tracker(order_id=scenario("shipped_stuck")), DOMAIN)
    [message] = dispatcher.messages
    assert "晚了" in message["text"] and "转人工" in message["text"]
    # the demo parcel's tracking has not moved for four days: said, with a one-tap report
    assert "物流也有 4 天没更新了" in message["text"]
    assert [b["payload"] for b in message["buttons"]] == [
        '/report_delivery_issue{"choice":"stuck"}', "/request_human"]


def test_parcel_on_time_gets_no_apology_and_no_buttons() -> None:
    dispatcher = CollectingDispatcher()
    ActionOrderStatus().run(dispatcher, tracker(order_id=scenario("shipped")), DOMAIN)
    [message] = dispatcher.messages
    assert "抱歉" not in message["text"] and not message["buttons"]


@pytest.mark.parametrize("days_still, stuck", [(0, False), (1, False), (2, True), (6, True)])
def test_tracking_that_has_not_moved_for_days_is_called_stuck_before_the_eta(
    days_still: int, stuck: bool
) -> None:
    """A parcel due in two days whose tracking has stood still: from two days on (policy
    tracking_stall_days) the answer says so and offers to report it."""
    order = ShopApiClient.from_env().order(scenario("shipped"))
    today = china_today()
    event = replace(order.latest_event, time=order.latest_event.time.astimezone(CHINA).replace(
        year=today.year, month=today.month, day=today.day) - timedelta(days=days_still))
    order = replace(order, eta=today + timedelta(days=2), tracking_events=[event])
    text = describe(order, today)
    assert f"预计 {order.eta:%m月%d日} 送达" in text and "晚了" not in text
    assert (f"物流已经有 {days_still} 天没更新了" in text) is stuck
    assert ("登记物流异常" in text) is stuck
    assert is_delayed(order, today) is stuck
    assert bool(delay_buttons(order, today)) is stuck


def test_shop_api_down_gets_an_apology_and_a_human(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_API_URL", "http://127.0.0.1:9")  # nothing listens there
    result, _ = validate("order_id", scenario("shipped"))
    assert result["journey_failure"] == "backend_down"
    dispatcher = CollectingDispatcher()
    events = ActionOrderStatus().run(
        dispatcher, tracker(order_id=None, journey_failure="backend_down"), DOMAIN
    )
    assert dispatcher.messages[0]["response"] == "utter_shop_api_down"
    assert {"event": "slot", "timestamp": None, "name": "journey_failure", "value": None} in events


def test_status_masks_who_signed_and_any_phone_in_the_tracking() -> None:
    from dataclasses import replace
    from datetime import datetime, timezone

    from bot.actions.order_status import describe
    from bot.clients.shop_api import TrackingEvent

    order = ShopApiClient.from_env().order(scenario("delivered"))
    event = TrackingEvent(time=datetime.now(timezone.utc), location="上海",
                          description="已签收，签收人：李小明，快递员电话13812345678")
    text = describe(replace(order, tracking_events=[event]), date.today())
    assert "签收人：李**" in text and "138****5678" in text
    assert "李小明" not in text and "13812345678" not in text
