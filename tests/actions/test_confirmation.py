"""The confirmation registry (bot/core/confirmation.py): each journey registers its confirmed
change in its own module, and action_confirm_change makes whatever change waits for the yes."""
from __future__ import annotations

import importlib
import json
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import bot.actions
from bot.actions.confirmation import ActionConfirmChange, ActionKeepOrder
from bot.actions.refund_request import RefundChange
from bot.clients.shop_api import Order, ShopApiError, ShopApiUnavailable
from bot.core import confirmation
from bot.core.changes import PENDING_SLOT, PendingChange
from bot.core.confirmation import confirms, registered
from bot.core.replies import Reply
from bot.domain_files import load_domain
from shop_api.seed import scenario
from tests.conftest import free_port
from tests.responses import message_text

ROOT = Path(__file__).resolve().parents[2]
# The changes a customer confirms with 确认 and the action that asks for each.
ASKED_BY = {
    "cancel": "action_cancel_order",
    "address": "action_change_order",
    "phone": "action_change_order",
    "delivery_slot": "action_change_order",
    "refund": "action_refund_request",
    "invoice_title": "action_invoice",
    "after_sales": "action_after_sales",
    "delivery_issue": "action_delivery_issue",
}


@pytest.fixture(scope="module", autouse=True)
def every_journey() -> None:
    """Import every module of bot/actions, as the action server does."""
    for module in pkgutil.walk_packages(bot.actions.__path__, "bot.actions."):
        importlib.import_module(module.name)


def domain_actions() -> set[str]:
    """The actions of the domain (the files under domain/)."""
    return set(load_domain().get("actions") or [])


@dataclass(frozen=True)
class GiftWrap(PendingChange):
    """A change of a journey that does not exist: gift-wrap the order."""

    kind: ClassVar[str] = "gift_wrap"
    paper: str


def answered(change: str, asked_by: str = "action_gift_wrap", text: str = "确认") -> Tracker:
    """The tracker right after the customer answered the question `asked_by` asked."""
    events = [{"event": "action", "name": asked_by}, {"event": "action", "name": "action_listen"},
              {"event": "user", "text": text, "timestamp": 10.0}]
    return Tracker("confirm", {PENDING_SLOT: change}, {"intent": {"name": "affirm"},
                                                       "entities": [], "text": text},
                   events, False, None, {"name": "action_listen"}, "action_listen")


def test_every_confirmed_change_is_registered_by_its_journey() -> None:
    kinds = registered()
    assert {kind: c.asked_by for kind, c in kinds.items()} == ASKED_BY
    assert set(ASKED_BY.values()) <= domain_actions()
    assert all(c.change_type.__module__ == c.make.__module__ for c in kinds.values())


def test_a_new_journey_registers_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confirmation, "_REGISTRY", dict(confirmation._REGISTRY))
    made: list[tuple[GiftWrap, str]] = []

    @confirms(GiftWrap, asked_by="action_gift_wrap")
    def wrap(dispatcher: CollectingDispatcher, change: GiftWrap, key: str) -> None:
        made.append((change, key))
        dispatcher.utter_message(text=f"已为订单 {change.order_id} 选好{change.paper}包装纸。")

    dispatcher = CollectingDispatcher()
    slot = GiftWrap("202605010001", "红色").to_slot()
    events = ActionConfirmChange().run(dispatcher, answered(slot), {})
    assert made and made[0][0] == GiftWrap("202605010001", "红色") and len(made[0][1]) == 40
    assert dispatcher.messages[0]["text"] == "已为订单 202605010001 选好红色包装纸。"
    assert events == [{"event": "slot", "timestamp": None, "name": PENDING_SLOT, "value": None}]
    no = CollectingDispatcher()
    ActionKeepOrder().run(no, answered(slot), {})
    assert no.messages[0]["response"] == "utter_change_kept"


def test_a_kind_belongs_to_one_journey(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confirmation, "_REGISTRY", dict(confirmation._REGISTRY))

    @dataclass(frozen=True)
    class Refund(PendingChange):
        kind: ClassVar[str] = "refund"

    Refund.__module__ = "bot.actions.another_journey"
    with pytest.raises(ValueError, match="already made by bot.actions.refund_request"):
        confirms(Refund, asked_by="action_another_journey")(lambda *_: None)


def test_the_slot_keeps_its_json() -> None:
    assert RefundChange("202605010001", "不想要了").to_slot() == json.dumps(
        {"kind": "refund", "order_id": "202605010001", "reason": "不想要了"},
        ensure_ascii=False, sort_keys=True)


@pytest.mark.parametrize("slot", [
    json.dumps({"kind": "gift_wrap", "order_id": "202605010001", "paper": "红色"}),  # unknown
    json.dumps({"kind": "address", "order_id": "202605010001"}),  # the address is missing
    json.dumps({"kind": "cancel", "order_id": 202605010001}),  # not a string
    json.dumps({"kind": ["cancel"], "order_id": "202605010001"}),  # a kind that is no name
    "not json",
])
def test_an_unknown_or_broken_change_is_not_made(slot: str) -> None:
    dispatcher = CollectingDispatcher()
    ActionConfirmChange().run(dispatcher, answered(slot, asked_by="action_cancel_order"), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_affirm"]


def test_a_yes_that_answers_no_question_makes_no_change() -> None:
    slot = json.dumps({"kind": "cancel", "order_id": "202605010001"})
    dispatcher = CollectingDispatcher()
    ActionConfirmChange().run(dispatcher, answered(slot, asked_by="action_order_status"), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_affirm"]


# ---- a refused or failed change: what the customer is told -----------------------------


@pytest.fixture
def point_to_shop(shop_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in shop_api.items():
        monkeypatch.setenv(key, value)


def confirm_failing(monkeypatch: pytest.MonkeyPatch, error: Exception, order_id: str,
                    state_changed: Any = None) -> list[dict[str, Any]]:
    """What the customer reads after confirming a gift-wrap change the shop fails with
    `error`, the journey wording the order's new state with `state_changed`."""
    monkeypatch.setattr(confirmation, "_REGISTRY", dict(confirmation._REGISTRY))

    def wrap(dispatcher: CollectingDispatcher, change: GiftWrap, key: str) -> None:
        raise error

    confirms(GiftWrap, asked_by="action_gift_wrap", state_changed=state_changed)(wrap)
    dispatcher = CollectingDispatcher()
    ActionConfirmChange().run(dispatcher, answered(GiftWrap(order_id, "红色").to_slot()), {})
    return dispatcher.messages


def now_state(order: Order, change: GiftWrap) -> Reply:
    """The gift-wrap journey's wording of the order's new state (a stand-in response that
    carries the state as the shop gave it)."""
    return Reply("utter_after_sales_cancelled", {"order_id": order.order_id,
                                                 "items": change.paper, "state": order.state,
                                                 "kind": "包装"})


def test_the_shop_system_down_offers_a_human(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = confirm_failing(monkeypatch, ShopApiUnavailable("down"), "202605010001")
    assert [m["response"] for m in messages] == ["utter_shop_api_down"]


def test_an_order_gone_meanwhile_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    error = ShopApiError("order_not_found", "no such order", 404)
    messages = confirm_failing(monkeypatch, error, "202605010001", now_state)
    assert [(m["response"], m["order_id"]) for m in messages] == [
        ("utter_order_not_found", "202605010001")]


def test_a_state_changed_meanwhile_is_read_again_from_the_shop(
    monkeypatch: pytest.MonkeyPatch, point_to_shop: None
) -> None:
    order_id = scenario("shipped")
    error = ShopApiError("already_shipped", "shipped", 409)
    messages = confirm_failing(monkeypatch, error, order_id, now_state)
    # The apology, then the journey's words for the state read again from the shop.
    assert [message_text(m) for m in messages] == [
        "抱歉，订单状态刚刚有变化。",
        f"订单 {order_id}（红色）当前状态：shipped。"
        "这个订单已经取消或在退款流程里，不能再申请包装了。"]


def test_a_refusal_the_shop_explains_is_passed_on(
    monkeypatch: pytest.MonkeyPatch, point_to_shop: None
) -> None:
    order_id = scenario("shipped")
    shipped = "订单已经发货，不能再修改或取消了。需要的话可以发送「转人工」，客服帮您看看。"
    # Not a change of state (not 409): the order is not read again.
    error = ShopApiError("already_shipped", "shipped", 422)
    assert [message_text(m) for m in confirm_failing(monkeypatch, error, order_id,
                                                     now_state)] == [shipped]
    # A change of state, but the journey has nothing to say about the new one.
    error = ShopApiError("already_shipped", "shipped", 409)
    assert [message_text(m) for m in confirm_failing(monkeypatch, error, order_id)] == [shipped]
    # The shop cannot be read again: the refusal as the shop gave it.
    monkeypatch.setenv("SHOP_API_URL", f"http://127.0.0.1:{free_port()}")
    assert [message_text(m) for m in confirm_failing(monkeypatch, error, order_id,
                                                     now_state)] == [shipped]


def test_a_refusal_without_an_explanation_gets_the_general_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = ShopApiError("validation_failed", "bad field", 400)
    messages = confirm_failing(monkeypatch, error, "202605010001", now_state)
    assert [m["response"] for m in messages] == ["utter_change_refused"]


def test_only_a_direct_answer_to_the_question_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confirmation, "_REGISTRY", dict(confirmation._REGISTRY))
    confirms(GiftWrap, asked_by="action_gift_wrap")(lambda *_: None)

    def tracker_of(events: list[dict[str, Any]]) -> Tracker:
        return Tracker("confirm", {}, {}, events, False, None, {}, "action_listen")

    asked = {"event": "action", "name": "action_gift_wrap"}
    listen = {"event": "action", "name": "action_listen"}
    user = {"event": "user", "text": "确认"}
    assert confirmation.prompted_just_before(tracker_of([asked, listen, user]))
    # The customer wrote twice since the question: the yes is not its answer.
    assert not confirmation.prompted_just_before(tracker_of([asked, listen, user, listen, user]))
    assert not confirmation.prompted_just_before(tracker_of([user]))
    assert not confirmation.prompted_just_before(tracker_of([]))
