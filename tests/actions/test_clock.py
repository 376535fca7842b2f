"""One clock: every journey counts days in China's time (bot/core/clock.py). On a UTC server
the date is still yesterday's until 08:00 in Beijing, so the clock is stopped at 07:59 and at
08:01 Beijing time (23:59 and 00:01 UTC) and the answers that depend on "today" must agree."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.invoice import invoice_blocker
from bot.actions.order_change import ValidateChangeOrderForm
from bot.actions.refund_status import ActionRefundStatus
from bot.clients.shop_api import Address, Order, OrderItem, Refund
from bot.core import clock
from bot.core.changes import describe_denial
from bot.faq import load_policy
from tests.responses import message_text, rendered

BEIJING_DAY = date(2026, 5, 10)
MORNING = {  # Beijing time: the UTC instant
    "07:59": datetime(2026, 5, 9, 23, 59, tzinfo=timezone.utc),
    "08:01": datetime(2026, 5, 10, 0, 1, tzinfo=timezone.utc),
}


@pytest.fixture(params=sorted(MORNING))
def beijing_morning(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Stop the clock at 07:59, then at 08:01, Beijing time."""
    monkeypatch.setattr(clock, "utc_now", lambda: MORNING[request.param])
    return request.param


def delivered(days_ago: int, allowed: tuple[str, ...] = ()) -> Order:
    """An order delivered `days_ago` days before BEIJING_DAY (at 10:00 in Beijing)."""
    at = datetime.combine(BEIJING_DAY - timedelta(days=days_ago), time(10), clock.CHINA)
    return Order(
        order_id="202605010001", state="delivered", amount=Decimal("199.00"),
        payment_method="alipay", created_at=at - timedelta(days=3),
        paid_at=at - timedelta(days=3), shipped_at=at - timedelta(days=2), delivered_at=at,
        cancelled_at=None, cancel_reason=None,
        items=[OrderItem(sku="S1", name="蓝牙耳机", qty=1, price=Decimal("199.00"))],
        address=Address(name="张三", phone="13812345678", province="浙江省", city="杭州市",
                        detail="西湖区文三路100号"),
        delivery_slot=None, carrier="顺丰速运", tracking_number="SF1", tracking_events=[],
        eta=None, return_deadline=None, allowed_actions=list(allowed),
    )


def test_today_is_the_date_in_beijing(beijing_morning: str) -> None:
    assert clock.china_now().strftime("%H:%M") == beijing_morning
    assert clock.china_today() == BEIJING_DAY
    assert MORNING["07:59"].date() != BEIJING_DAY  # what date.today() says on a UTC server


def test_the_quality_return_window_ends_on_the_same_day(beijing_morning: str) -> None:
    last_day = int(load_policy()["quality_return_days"])
    within = rendered(describe_denial(delivered(last_day), "cancel"))
    past = rendered(describe_denial(delivered(last_day + 1), "cancel"))
    assert "仍可以退换" in within
    assert "仍可以退换" not in past and "可以申请保修维修" in past


def test_the_invoice_deadline_ends_on_the_same_day(beijing_morning: str) -> None:
    deadline = int(load_policy()["invoice_request_deadline_days"])
    assert invoice_blocker(delivered(deadline), None, "issue") is None
    assert invoice_blocker(delivered(deadline + 1), None, "issue") == "expired"


def test_a_delivery_day_is_tomorrow_in_beijing(beijing_morning: str) -> None:
    form, dispatcher = ValidateChangeOrderForm(), CollectingDispatcher()
    current = Tracker("clock", {}, {"intent": {"name": "inform"}, "entities": [], "text": ""},
                      [], False, None, {"name": "action_listen"}, "action_listen")
    today = form.validate_delivery_day(BEIJING_DAY.isoformat(), dispatcher, current, {})
    tomorrow = BEIJING_DAY + timedelta(days=1)
    assert today["delivery_day"] is None
    assert form.validate_delivery_day(tomorrow.isoformat(), dispatcher, current, {}) == {
        "delivery_day": tomorrow.isoformat(), "lookup_attempts": 0}


class OneRefund:
    """A shop client whose order has one refund due on `due`."""

    def __init__(self, due: date) -> None:
        self.due = due

    def refunds(self, order_id: str) -> list[Refund]:
        return [Refund(refund_id="R1", order_id=order_id, payment_id=None,
                       kind="customer_request", status="processing", amount=Decimal("99.00"),
                       method="alipay", reason="不想要了", rejection_reason=None,
                       created_at=datetime(2026, 5, 1, tzinfo=clock.CHINA),
                       expected_arrival=self.due, completed_at=None)]


@pytest.mark.parametrize("due, late", [(BEIJING_DAY - timedelta(days=1), True),
                                       (BEIJING_DAY, False)])
def test_a_refund_is_late_from_the_day_after_it_was_due(
    beijing_morning: str, monkeypatch: pytest.MonkeyPatch, due: date, late: bool
) -> None:
    monkeypatch.setattr("bot.actions.refund_status.shop_client", lambda: OneRefund(due))
    slots: dict[str, Any] = {"order_id": "202605010001"}
    current = Tracker("clock", slots, {"intent": {"name": "ask_refund_status"}, "entities": [],
                                       "text": "退款到哪了"},
                      [], False, None, {"name": "action_listen"}, "action_listen")
    dispatcher = CollectingDispatcher()
    ActionRefundStatus().run(dispatcher, current, {})
    text = message_text(dispatcher.messages[0])
    assert f"预计 {due:%m月%d日} 前到账" in text
    assert ("已超过预计时间" in text) is late
