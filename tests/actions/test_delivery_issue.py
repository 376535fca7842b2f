"""Delivery problems on built trackers against the real demo shop API."""
from __future__ import annotations

import pytest

from bot.actions.delivery_issue import ActionDeliveryIssue, ValidateDeliveryIssueForm
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


@pytest.mark.parametrize(("text", "issue"), [
    ("显示已签收了但是我没收到", "not_received"),
    ("快递箱子压坏了 杯子碎了", "damaged"),
    ("少发了一件", "missing"),
    ("发错货了 颜色不对", "wrong"),
    ("物流三天没更新了", "stuck"),
])
def test_problem_is_read_from_the_words(text: str, issue: str) -> None:
    slots, _ = run_form(ValidateDeliveryIssueForm(), tracker(text, "report_delivery_issue"))
    assert slots["issue_type"] == issue


def test_unknown_button_value_is_not_accepted() -> None:
    current = tracker("/inform", entities=choice("lost_in_space"),
                      order_id=scenario("shipped_stuck"))
    slots, _ = run_form(ValidateDeliveryIssueForm(), current, "issue_type")
    assert not slots.get("issue_type")


def test_damaged_parcel_case_is_opened_with_the_customers_words() -> None:
    order_id = scenario("delivered_not_received")
    current = tracker(order_id=order_id, issue_type="damaged", issue_detail="外箱破了 耳机盒子凹了")
    asked, messages = ask_then_confirm(ActionDeliveryIssue(), current)
    assert "非常抱歉" in texts(asked) and "商品或包装破损" in texts(asked)
    assert "售后单号" not in texts(asked)  # nothing opened before the yes
    text = texts(messages)
    assert "售后单号 AS" in text and "拍几张照片" in text
    [case] = [c for c in ShopApiClient.from_env().after_sales(order_id)
              if c.type == "delivery_issue"]
    assert case.description == "外箱破了 耳机盒子凹了" and case.reason == "商品或包装破损"
    assert case.case_id in text


def test_stuck_parcel_needs_no_details_and_records_the_tracking() -> None:
    order_id = scenario("shipped_stuck")
    form = ValidateDeliveryIssueForm()
    slots, _ = run_form(form, tracker("物流好几天不动了", "report_delivery_issue",
                                      order_id=order_id))
    assert slots["issue_type"] == "stuck" and "issue_detail" not in slots
    _, messages = ask_then_confirm(ActionDeliveryIssue(),
                                   tracker(order_id=order_id, issue_type="stuck"))
    assert "售后单号" in texts(messages)
    [case] = ShopApiClient.from_env().after_sales(order_id)
    assert "中通快递" in case.description


def test_case_already_open_is_named() -> None:
    order_id = scenario("delivery_issue_open")
    current = tracker(order_id=order_id, issue_type="missing", issue_detail="少了一提")
    _, messages = ask_then_confirm(ActionDeliveryIssue(), current)
    assert messages[0]["response"] == "utter_delivery_case_exists"
    assert messages[0]["case_id"].startswith("AS")


def test_order_not_shipped_yet_explains() -> None:
    order_id = scenario("paid")
    slots, _ = run_form(ValidateDeliveryIssueForm(), tracker(order_id, order_id=order_id))
    assert slots["order_blocker"] == "paid"
    _, messages = run_action(ActionDeliveryIssue(), tracker(order_id=order_id))
    assert "还没有发货" in texts(messages)


def test_shop_api_down_apologises_and_offers_a_human(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_API_URL", "http://127.0.0.1:9")
    slots, _ = run_form(ValidateDeliveryIssueForm(),
                        tracker(scenario("shipped"), order_id=scenario("shipped")))
    assert slots["journey_failure"] == "backend_down"
    _, messages = run_action(ActionDeliveryIssue(), tracker(journey_failure="backend_down"))
    assert messages[-1]["response"] == "utter_shop_api_down"


def test_markup_in_the_details_is_dropped() -> None:
    current = tracker("<script>alert(1)</script>耳机盒子压扁了", order_id=scenario("delivered"),
                      issue_type="damaged")
    slots, _ = run_form(ValidateDeliveryIssueForm(), current, "issue_detail", fresh=())
    assert slots["issue_detail"] == "alert(1)耳机盒子压扁了"


def test_wrong_item_names_the_policys_shipping_subsidy() -> None:
    order_id = scenario("duplicate_charge_refunded")  # delivered, no delivery case yet
    asked, done = ask_then_confirm(ActionDeliveryIssue(), tracker(
        order_id=order_id, issue_type="wrong", issue_detail="收到的是别的型号"))
    assert "发错货" in texts(asked)
    assert "最高补贴 20 元" in texts(done) and "来回运费由我们承担" not in texts(done)


@pytest.mark.parametrize(("intent", "taken"), [
    # Describing a broken parcel reads like a return request: same problem, keep going.
    ("request_return", True),
    # Another journey altogether is a change of topic: the form does not swallow it.
    ("request_invoice", False),
])
def test_description_that_reads_like_a_return_is_still_the_description(
    intent: str, taken: bool
) -> None:
    text = "鞋盒整个塌了，左脚鞋面有一道折痕"
    current = tracker(text, intent, confidence=0.95, order_id=scenario("delivered_not_received"),
                      issue_type="damaged")
    current.active_loop = {"name": "delivery_issue_form"}
    slots, _ = run_form(ValidateDeliveryIssueForm(), current, "issue_detail", fresh=())
    assert (slots.get("issue_detail") == text) is taken
