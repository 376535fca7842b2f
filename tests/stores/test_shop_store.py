"""The shop's store gives the same answers on PostgreSQL as on SQLite: the demo data seeded,
then the state changes the bot makes (cancel with automatic refunds, refund, after-sales case,
e-invoice and a new title), idempotent answers, moving the demo dates forward, and a database
URL reset."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from shop_api import rules, seed
from shop_api.errors import ShopError
from shop_api.store import Store

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=rules.CHINA_TZ)


def scenario(key: str) -> str:
    return seed.scenario(key)


def attempt(operation: Any, *args: Any) -> Any:
    """What the API would answer: the result, or the error's body."""
    try:
        return operation(*args)
    except ShopError as error:
        return error.body()


def journey(store: Store) -> list[Any]:
    """What customers' conversations do to the shop, step by step, and what they see."""
    title = {"title_type": "company", "title": "示例科技有限公司",
             "tax_number": "91310000MA1FL8XQ2K"}
    seen = [
        store.orders_by_phone(scenario("customer_with_history"), 5),
        attempt(store.change_invoice_title, scenario("invoice_issued"), title),
        attempt(store.cancel, scenario("paid"), "不想要了"),
        attempt(store.open_refund, scenario("delivered"), 1000, "少发了一件"),
        attempt(store.open_case, scenario("return_window_ending"), "return", "尺码不合适", "偏小"),
        attempt(store.open_case, scenario("return_window_ending"), "return", "尺码不合适", "偏小"),
        attempt(store.change_delivery_slot, scenario("shipped"), date(2026, 6, 3),
                "09:00-12:00"),
        attempt(store.request_invoice, scenario("invoice_none"),
                {"title_type": "personal", "title": "张三", "tax_number": None},
                "a@example.com"),
        attempt(store.order, "000000000000"),
    ]
    store.remember("key-1", "f1", 201, {"ok": "好的"})
    seen.append(store.recall("key-1"))
    store.shift_times(3)
    seen += [store.order(scenario("shipped")), store.order(scenario("paid")), store.states(),
             store.account(scenario("customer_with_history")), store.refunds(scenario("paid"))]
    return seen


@pytest.fixture
def clock() -> Any:
    return lambda: NOW + timedelta(seconds=0)


def test_postgresql_answers_as_sqlite_does(postgres_server: str, tmp_path: Any,
                                           clock: Any) -> None:
    from tests import postgres

    answers = []
    for url in (str(tmp_path / "shop.db"), postgres.new_database(postgres_server)):
        store = Store(url, clock=clock)
        seed.seed(store, NOW)
        answers.append(journey(store))
        store.close()
    sqlite, postgresql = answers
    for step, (a, b) in enumerate(zip(sqlite, postgresql)):
        assert a == b, f"step {step}"


def test_a_database_url_is_reset_by_deleting_its_rows(postgres_server: str) -> None:
    from tests import postgres

    url = postgres.new_database(postgres_server)
    assert "seeded" in seed.prepare(url)
    store = Store(url)
    store.cancel(scenario("paid"), "不想要了")
    store.close()
    assert "seeded" in seed.prepare(url, reset=True)
    store = Store(url)
    assert store.order(scenario("paid"))["state"] == "paid"
    store.close()
