"""Cancel and change an order on built trackers against the real demo shop API."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from bot.actions.confirmation import ActionConfirmChange, ActionKeepOrder
from bot.actions.order_change import (
    ActionCancelOrder,
    ActionChangeOrder,
    ValidateCancelOrderForm,
    ValidateChangeOrderForm,
    parse_address,
    parse_day,
)
from bot.clients.shop_api import ShopApiClient
from bot.core.clock import china_today
from shop_api.seed import scenario
from tests.actions.journey_helpers import choice, confirmed, run_action, run_form, texts, tracker


@pytest.fixture(autouse=True)
def point_to_shop(shop_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in shop_api.items():
        monkeypatch.setenv(key, value)


def test_addresses_are_read_from_one_line() -> None:
    assert parse_address("广东省深圳市南山区科技园路1号2栋301") == {
        "province": "广东省", "city": "深圳市", "detail": "南山区科技园路1号2栋301"}
    assert parse_address("新地址：上海市浦东新区世纪大道100号") == {
        "province": "上海市", "city": "上海市", "detail": "浦东新区世纪大道100号"}
    assert parse_address("新疆维吾尔自治区乌鲁木齐市天山区解放南路8号")["city"] == "乌鲁木齐市"
    assert parse_address("改一下") is None and parse_address("深圳南山") is None


def test_delivery_days_in_customer_words() -> None:
    today = date(2026, 11, 23)  # a Monday
    assert parse_day("明天晚上", today) == date(2026, 11, 24)
    assert parse_day("后天", today) == date(2026, 11, 25)
    assert parse_day("周六下午", today) == date(2026, 11, 28)
    assert parse_day("28号", today) == date(2026, 11, 28)
    assert parse_day("3号", today) == date(2026, 12, 3)
    assert parse_day("12月1日", today) == date(2026, 12, 1)
    assert parse_day("随便", today) is None


def test_cancel_asks_for_confirmation_with_the_refund_then_cancels() -> None:
    order_id = scenario("paid_debit_card")
    slots, messages = run_action(ActionCancelOrder(), tracker(order_id=order_id))
    text = texts(messages)
    assert order_id in text and "确认取消这个订单吗" in text and "原路退回银行卡" in text
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/affirm", "/deny"]
    assert ShopApiClient.from_env().order(order_id).state == "paid"  # nothing changed yet
    slots, messages = run_action(ActionConfirmChange(), confirmed(slots))
    assert "已取消" in texts(messages) and "预计" in texts(messages)
    assert ShopApiClient.from_env().order(order_id).state == "cancelled"
    assert slots["pending_change"] is None


def test_saying_no_keeps_the_order() -> None:
    order_id = scenario("paid")
    slots, _ = run_action(ActionCancelOrder(), tracker(order_id=order_id))
    no = confirmed(slots)
    no.latest_message["intent"]["name"] = "deny"
    _, messages = run_action(ActionKeepOrder(), no)
    assert messages[0]["response"] == "utter_change_kept"
    assert ShopApiClient.from_env().order(order_id).state == "paid"


def test_a_typed_affirm_without_a_question_changes_nothing() -> None:
    change = json.dumps({"kind": "cancel", "order_id": scenario("paid")})
    forged = tracker("/affirm", "affirm", pending_change=change)  # no question was asked
    _, messages = run_action(ActionConfirmChange(), forged)
    assert messages[0]["response"] == "utter_affirm"
    assert ShopApiClient.from_env().order(scenario("paid")).state == "paid"


def test_too_late_to_cancel_says_what_is_possible() -> None:
    slots, messages = run_form(ValidateCancelOrderForm(),
                               tracker(scenario("shipped"), order_id=scenario("shipped")))
    assert slots["order_blocker"] == "shipped"
    _, messages = run_action(ActionCancelOrder(), tracker(order_id=scenario("shipped")))
    text = texts(messages)
    assert "没办法再取消" in text and "拒收" in text and "退货" in text
    assert "buttons" not in messages[0] or not messages[0]["buttons"]


def test_change_field_comes_from_the_words_or_a_button() -> None:
    form = ValidateChangeOrderForm()
    slots, _ = run_form(form, tracker("我想改下收货地址", "change_order"))
    assert slots["change_field"] == "address"
    slots, _ = run_form(form, tracker("/inform", entities=choice("delivery_slot"),
                                      order_id=scenario("pending_payment")), "change_field")
    assert slots["change_field"] == "delivery_slot"
    slots, _ = run_form(form, tracker("/inform", entities=choice("<script>"),
                                      order_id=scenario("pending_payment")), "change_field")
    assert not slots.get("change_field")


def test_bad_address_is_explained_and_counted() -> None:
    current = tracker("就改到公司", order_id=scenario("pending_payment"),
                      change_field="address")
    slots, messages = run_form(ValidateChangeOrderForm(), current, "new_address")
    assert slots["new_address"] is None and slots["lookup_attempts"] == 1
    assert messages[0]["response"] == "utter_address_invalid"


def test_change_address_shows_old_and_new_then_changes_it() -> None:
    order_id = scenario("pending_payment")
    new = "广东省深圳市南山区科技园路1号2栋301"
    slots, _ = run_form(ValidateChangeOrderForm(),
                        tracker(new, order_id=order_id, change_field="address"), "new_address")
    assert slots["new_address"] == new
    slots, messages = run_action(
        ActionChangeOrder(), tracker(order_id=order_id, change_field="address", new_address=new))
    text = texts(messages)
    assert "原地址：北京市朝阳区" in text
    assert "新地址：广东省深圳市南山区科技园路1号2栋301" in text
    assert "确认修改吗" in text
    _, messages = run_action(ActionConfirmChange(), confirmed(slots, "action_change_order"))
    assert "已经改好了" in texts(messages)
    assert ShopApiClient.from_env().order(order_id).address.city == "深圳市"


def test_change_delivery_time_in_words() -> None:
    order_id = scenario("paid")
    current = tracker("改到后天晚上送", "change_order", order_id=order_id)
    slots, _ = run_form(ValidateChangeOrderForm(), current)
    day = china_today() + timedelta(days=2)
    assert slots["change_field"] == "delivery_slot"
    assert slots["delivery_day"] == day.isoformat() and slots["delivery_window"] == "18:00-21:00"
    slots, messages = run_action(ActionChangeOrder(), tracker(**{"order_id": order_id, **slots}))
    assert "晚上 18:00-21:00" in texts(messages)
    run_action(ActionConfirmChange(), confirmed(slots, "action_change_order"))
    assert ShopApiClient.from_env().order(order_id).delivery_slot.date == day


def test_delivery_day_out_of_range_is_refused() -> None:
    current = tracker("/inform", entities=choice("2020-01-01"), order_id=scenario("paid"),
                      change_field="delivery_slot")
    slots, messages = run_form(ValidateChangeOrderForm(), current, "delivery_day")
    assert slots["delivery_day"] is None
    assert messages[0]["response"] == "utter_delivery_day_invalid"


def test_change_after_shipping_explains() -> None:
    _, messages = run_action(ActionChangeOrder(), tracker(
        order_id=scenario("out_for_delivery"), change_field="address", new_address="x"))
    assert "没办法再修改" in texts(messages) and "快递员" in texts(messages)


def test_another_order_without_its_number_is_asked_for() -> None:
    current = tracker("那另一个订单能取消吗", "cancel_order", order_id=scenario("shipped"))
    slots, _ = run_form(ValidateCancelOrderForm(), current, fresh=())
    assert slots["order_id"] is None  # so the form asks for it
    current = tracker(f"那另一个订单{scenario('paid')}呢", "inform", order_id=scenario("paid"))
    slots, _ = run_form(ValidateCancelOrderForm(), current)
    assert slots["order_id"] == scenario("paid")


def test_third_bad_address_ends_in_a_human_offer_and_keeps_the_order() -> None:
    order_id = scenario("pending_payment")
    current = tracker("不知道", order_id=order_id, change_field="address", lookup_attempts=2)
    slots, messages = run_form(ValidateChangeOrderForm(), current, "new_address", fresh=())
    assert slots["journey_failure"] == "attempts" and messages == []
    assert slots.get("order_id", order_id) == order_id and slots["requested_slot"] is None
    _, messages = run_action(ActionChangeOrder(), tracker(order_id=order_id,
                                                          journey_failure="attempts"))
    assert messages[0]["response"] == "utter_lookup_gave_up"


def test_new_recipient_phone_does_not_become_the_customers_phone() -> None:
    events = [{"event": "slot", "name": "phone", "value": "13812345678"},
              {"event": "user", "text": "13900001111"},
              {"event": "slot", "name": "phone", "value": "13900001111"}]
    current = tracker("13900001111", order_id=scenario("pending_payment"), change_field="phone",
                      phone="13900001111", events=events)
    slots, _ = run_form(ValidateChangeOrderForm(), current, "new_phone", fresh=())
    assert slots["new_phone"] == "13900001111" and slots["phone"] == "13812345678"


def test_state_changed_before_the_yes_is_explained() -> None:
    change = json.dumps({"kind": "cancel", "order_id": scenario("cancelled_unpaid")})
    _, messages = run_action(ActionConfirmChange(), confirmed({"pending_change": change}))
    assert "订单状态刚刚有变化" in texts(messages) and "已经取消了" in texts(messages)


def test_any_number_sent_for_the_order_is_checked_whatever_the_intent() -> None:
    current = tracker("123", "goodbye", confidence=0.95)
    slots, messages = run_form(ValidateCancelOrderForm(), current, "order_id", fresh=())
    assert slots["order_id"] is None and slots["lookup_attempts"] == 1
    assert messages[0]["response"] == "utter_order_id_invalid"


def test_a_change_of_the_items_is_explained_with_what_the_customer_can_do() -> None:
    # The bot cannot split a parcel or add an item; before, 「拆单」 at "what do you want to
    # change?" got "I did not understand" again and again. (pending_payment: the one unshipped
    # order that no other test cancels or refunds; tests share one demo shop.)
    order_id = scenario("pending_payment")
    form = ValidateChangeOrderForm()
    slots, _ = run_form(form, tracker("这两件能分开发吗 明天先发一件", "change_order"))
    assert slots["change_field"] == "items"
    slots, _ = run_form(form, tracker("拆单", order_id=order_id), "change_field")
    assert slots["change_field"] == "items"
    assert not form.asks("new_address", tracker(change_field="items"))
    before = ShopApiClient.from_env().order(order_id)
    _, messages = run_action(ActionChangeOrder(),
                             tracker(order_id=order_id, change_field="items"))
    text = texts(messages)
    assert "还没发货" in text and "拆" in text and "取消这个订单" in text
    assert "原路退回" not in text  # not paid yet: nothing to refund
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/cancel_order", "/request_human"]
    assert ShopApiClient.from_env().order(order_id) == before  # nothing was changed
    _, messages = run_action(ActionChangeOrder(), tracker(order_id=scenario("shipped"),
                                                          change_field="items"))
    assert "包裹已经发出" in texts(messages)
