"""The order is the customer's before a journey shows or changes it; what the replies mask;
one change per turn (idempotency); the shop's refusals. Built trackers against the real demo
shop API."""
from __future__ import annotations

import json

import pytest
from rasa_sdk import Tracker

from bot.actions.after_sales import ValidateAfterSalesForm
from bot.actions.confirmation import ActionConfirmChange
from bot.actions.delivery_issue import ValidateDeliveryIssueForm
from bot.actions.invoice import ValidateInvoiceForm
from bot.actions.order_change import (
    ActionCancelOrder,
    ActionChangeOrder,
    ValidateCancelOrderForm,
    ValidateChangeOrderForm,
)
from bot.actions.order_lookup import ActionAskPhone
from bot.actions.refund_request import ValidateRefundRequestForm
from bot.clients.shop_api import ShopApiClient, ShopApiError
from bot.core.changes import PENDING_SLOT, idempotency_key
from bot.core.lookup import OrderJourneyAction
from shop_api.seed import scenario
from tests.actions.journey_helpers import owner, run_action, run_form, texts, tracker
from tests.conftest import free_port

STRANGER = "13900007777"  # a well-formed phone that placed none of these orders


@pytest.fixture(autouse=True)
def point_to_shop(shop_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in shop_api.items():
        monkeypatch.setenv(key, value)


FORMS = [ValidateCancelOrderForm, ValidateChangeOrderForm, ValidateRefundRequestForm,
         ValidateAfterSalesForm, ValidateDeliveryIssueForm, ValidateInvoiceForm]


@pytest.mark.parametrize("form", FORMS)
def test_an_order_number_alone_is_not_enough(form: type) -> None:
    order_id = scenario("paid")
    current = tracker(f"订单{order_id}", "inform", order_id=order_id, phone=None)
    slots, messages = run_form(form(), current)
    assert slots["requested_slot"] == "phone" and slots.get("order_id", order_id) == order_id
    assert messages == []  # nothing about the order yet


def test_the_phone_is_asked_for_with_the_reason() -> None:
    current = tracker(order_id=scenario("paid"), phone=None)
    current.active_loop = {"name": "cancel_order_form"}
    _, messages = run_action(ActionAskPhone(), current)
    assert messages[0]["response"] == "utter_ask_owner_phone"
    current.active_loop = {"name": "account_form"}
    _, messages = run_action(ActionAskPhone(), current)
    assert messages[0]["response"] == "utter_ask_phone"
    current.active_loop = {"name": "cancel_order_form"}
    current.events.extend([{"event": "user", "text": STRANGER},
                           {"event": "bot", "metadata": {"utter_action": "utter_phone_not_owner"}}])
    _, messages = run_action(ActionAskPhone(), current)
    assert messages == []  # the refusal has just asked for the right phone


def test_an_order_the_customer_cannot_change_asks_for_the_phone_before_explaining() -> None:
    order_id = scenario("shipped")  # too late to cancel: the refusal names the goods
    slots, _ = run_form(ValidateCancelOrderForm(), tracker(order_id, order_id=order_id,
                                                           phone=None))
    assert slots["order_blocker"] == "shipped" and slots["requested_slot"] == "phone"
    current = tracker(owner(order_id), order_id=order_id, phone=owner(order_id),
                      order_blocker="shipped")
    slots, _ = run_form(ValidateCancelOrderForm(), current, "phone", fresh=("phone",))
    assert slots["phone"] == owner(order_id) and slots["requested_slot"] is None
    # The change form, whose questions come after the phone, asks none of them either.
    current = tracker(owner(order_id), order_id=order_id, phone=owner(order_id),
                      order_blocker="shipped")
    slots, _ = run_form(ValidateChangeOrderForm(), current, "phone", fresh=("phone",))
    assert slots["requested_slot"] is None


def test_the_order_number_is_asked_for_before_the_phone() -> None:
    for form in FORMS:
        slots, _ = run_form(form(), tracker("我要办个事", "inform", order_id=None, phone=None),
                            fresh=())
        assert slots["requested_slot"] == "order_id", form.__name__


def test_someone_elses_phone_is_refused_counted_and_ends_with_a_human() -> None:
    order_id = scenario("paid_debit_card")
    attempts = 0
    for _ in range(2):
        current = tracker(STRANGER, order_id=order_id, phone=STRANGER, lookup_attempts=attempts)
        slots, messages = run_form(ValidateRefundRequestForm(), current, "phone",
                                   fresh=("phone",))
        assert slots["phone"] is None and slots.get("order_id", order_id) == order_id
        assert messages[-1]["response"] == "utter_phone_not_owner"
        assert messages[-1]["phone"] == "139****7777" and "refund_reason" not in slots
        attempts = slots["lookup_attempts"]
    current = tracker(STRANGER, order_id=order_id, phone=STRANGER, lookup_attempts=attempts)
    slots, _ = run_form(ValidateRefundRequestForm(), current, "phone", fresh=("phone",))
    assert slots["journey_failure"] == "attempts" and slots["order_id"] is None


def test_not_a_phone_is_explained_and_the_order_kept() -> None:
    order_id = scenario("paid_debit_card")
    current = tracker("我不记得了 123", order_id=order_id, phone=None)
    slots, messages = run_form(ValidateCancelOrderForm(), current, "phone", fresh=())
    assert slots["phone"] is None and slots["lookup_attempts"] == 1
    assert "order_id" not in slots and messages[-1]["response"] == "utter_phone_invalid"


def test_a_phone_from_earlier_that_is_not_the_orders_is_forgotten() -> None:
    order_id = scenario("paid_debit_card")  # the phone was given for another order
    current = tracker("改地址", "change_order", order_id=order_id, phone=owner(scenario("paid")))
    slots, messages = run_form(ValidateChangeOrderForm(), current, fresh=())
    assert slots["phone"] is None and slots["requested_slot"] == "phone"


def test_the_answer_step_says_nothing_without_the_owners_phone() -> None:
    order_id = scenario("paid_credit_card")
    for phone in (None, STRANGER):
        slots, messages = run_action(ActionCancelOrder(), tracker(order_id=order_id,
                                                                  phone=phone))
        assert [m.get("response") for m in messages] == ["utter_ask_owner_phone"]
        assert not slots.get(PENDING_SLOT) and slots["phone"] is None  # asked for again


def test_replies_mask_the_recipients_name_street_and_phone() -> None:
    order_id = scenario("payment_failed_limit")
    new = "江苏省南京市鼓楼区中山北路30号"
    slots, asked = run_action(ActionChangeOrder(), tracker(
        order_id=order_id, change_field="address", new_address=new))
    old = ShopApiClient.from_env().order(order_id).address
    assert old.detail not in texts(asked) and old.name not in texts(asked)
    assert f"收货人 {old.name[0]}**" in texts(asked) and "****" in texts(asked)
    _, done = run_action(ActionConfirmChange(), turn("确认", 100.0, slots[PENDING_SLOT]))
    reply = texts(done)
    assert "已经改好了" in reply and f"{old.name[0]}**" in reply
    assert "中山北路" not in reply and "江苏省南京市鼓楼区****" in reply
    assert owner(order_id) not in reply and "****" in reply


def turn(text: str, at: float, change: str, prompt: str = "action_change_order") -> Tracker:
    """The tracker right after the customer said yes at time `at` to a pending change."""
    events = [{"event": "user", "text": "改地址", "timestamp": at - 10},
              {"event": "action", "name": prompt},
              {"event": "action", "name": "action_listen"},
              {"event": "user", "text": text, "timestamp": at}]
    return tracker(text, "affirm", events=events, **{PENDING_SLOT: change})


def test_a_back_and_forth_address_change_is_made_each_time() -> None:
    order_id = scenario("paid_after_retry")
    first = {"province": "浙江省", "city": "杭州市", "detail": "西湖区文三路100号"}
    second = {"province": "浙江省", "city": "宁波市", "detail": "鄞州区天童南路1号"}
    for at, address in ((1000.0, first), (2000.0, second), (3000.0, first)):
        change = json.dumps({"kind": "address", "order_id": order_id, "address": address},
                            ensure_ascii=False, sort_keys=True)
        _, messages = run_action(ActionConfirmChange(), turn("确认", at, change))
        assert "已经改好了" in texts(messages)
        assert ShopApiClient.from_env().order(order_id).address.city == address["city"]


def test_the_same_turn_gives_the_same_key_another_turn_another() -> None:
    change = json.dumps({"kind": "cancel", "order_id": "1"})
    same = idempotency_key(turn("确认", 5.0, change), "x")
    assert same == idempotency_key(turn("确认", 5.0, change), "x")
    assert same != idempotency_key(turn("确认", 6.0, change), "x")


class RefusingAction(OrderJourneyAction):
    """An answer step the shop refuses with a given error."""

    def __init__(self, error: ShopApiError) -> None:
        self.error = error

    def name(self) -> str:
        return "action_refusing"

    def answer(self, dispatcher, order_id: str) -> None:  # noqa: ANN001
        raise self.error


def test_only_a_missing_order_is_called_not_found() -> None:
    order_id = scenario("paid")
    refused = ShopApiError("invoice_exists", "The order already has an invoice.", 409)
    slots, messages = run_action(RefusingAction(refused), tracker(order_id=order_id))
    assert "没有查到订单" not in texts(messages) and "已经开过发票" in texts(messages)
    assert "order_id" not in slots  # still the order under discussion
    bad = ShopApiError("invalid_request", "title: too long", 400)
    slots, messages = run_action(RefusingAction(bad), tracker(order_id=order_id))
    assert "没有受理" in texts(messages) and "order_id" not in slots
    missing = ShopApiError("order_not_found", "No order with this number.", 404)
    slots, messages = run_action(RefusingAction(missing), tracker(order_id=order_id))
    assert messages[-1]["response"] == "utter_order_not_found" and slots["order_id"] is None


# ---- which order and which phone the customer means (found by mutation testing) ------


def test_another_order_without_its_number_is_asked_for() -> None:
    order_id = scenario("paid")
    current = tracker("那另一个订单呢", "ask_order_status", order_id=order_id,
                      phone=owner(order_id))
    slots, _ = run_form(ValidateCancelOrderForm(), current, fresh=())
    assert slots["order_id"] is None and slots["requested_slot"] == "order_id"
    # With its number, the other order is the one looked up.
    other = scenario("paid_debit_card")
    current = tracker(f"另一个订单 {other}", "inform", order_id=other, phone=None)
    slots, _ = run_form(ValidateCancelOrderForm(), current)
    assert slots.get("order_id", other) == other and slots["requested_slot"] == "phone"


def test_any_number_sent_for_the_order_is_checked_and_explained() -> None:
    current = tracker("123", "inform", order_id=None, phone=None)
    slots, messages = run_form(ValidateCancelOrderForm(), current, "order_id", fresh=())
    assert slots["order_id"] is None and slots["lookup_attempts"] == 1
    assert [m["response"] for m in messages] == ["utter_order_id_invalid"]


def test_the_phone_is_read_from_a_sentence_and_proves_the_order() -> None:
    order_id = scenario("paid")
    phone = owner(order_id)
    current = tracker(f"手机号是{phone}，麻烦了", "inform", order_id=order_id, phone=None,
                      lookup_attempts=1)
    slots, messages = run_form(ValidateCancelOrderForm(), current, "phone", fresh=())
    assert slots["phone"] == phone and slots["lookup_attempts"] == 0
    assert slots.get("order_id", order_id) == order_id and messages == []


def test_an_order_gone_while_the_phone_is_checked_is_asked_for_again() -> None:
    current = tracker(STRANGER, "inform", order_id="209999999999", phone=STRANGER)
    slots, _ = run_form(ValidateCancelOrderForm(), current, "phone", fresh=("phone",))
    assert slots["order_id"] is None and slots["phone"] == STRANGER


def test_the_shop_down_while_the_phone_is_checked_ends_the_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order_id = scenario("paid")
    monkeypatch.setenv("SHOP_API_URL", f"http://127.0.0.1:{free_port()}")
    current = tracker(owner(order_id), "inform", order_id=order_id, phone=owner(order_id))
    slots, _ = run_form(ValidateCancelOrderForm(), current, "phone", fresh=("phone",))
    assert slots["journey_failure"] == "backend_down" and slots["phone"] is None


def test_the_recipients_new_phone_is_not_held_to_the_orders_owner() -> None:
    order_id = scenario("paid")
    # The NLU took the new number for the customer's phone too; the customer's stays.
    earlier = [{"event": "slot", "name": "phone", "value": owner(order_id)},
               {"event": "user", "text": STRANGER}]
    current = tracker(STRANGER, "inform", events=earlier, order_id=order_id, phone=STRANGER,
                      change_field="phone", new_phone=STRANGER)
    slots, messages = run_form(ValidateChangeOrderForm(), current, "new_phone",
                               fresh=("new_phone", "phone"))
    assert slots["new_phone"] == STRANGER and slots["phone"] == owner(order_id)
    assert "utter_phone_not_owner" not in [m.get("response") for m in messages]
