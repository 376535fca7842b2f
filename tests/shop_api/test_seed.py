"""The demo data without a server: determinism, dates kept current, reset, documentation."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from shop_api import rules, seed
from shop_api.store import Store, china_now
from tests.shop_api.conftest import ROOT
from tests.shop_api.openapi_check import OpenApi


def test_seed_is_deterministic() -> None:
    now = china_now()
    assert seed.build(now) == seed.build(now)


def test_seed_covers_every_state_with_enough_orders() -> None:
    store = Store(":memory:")
    seed.seed(store)
    states = store.states()
    assert set(states) == set(rules.STATES) and sum(states.values()) >= 40


def test_old_demo_data_is_moved_to_today(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    store = Store(str(db))
    seed.seed(store, china_now() - timedelta(days=3))
    store.close()
    assert "by 3 days" in seed.prepare(db)
    store = Store(str(db))
    delivered = store.order(seed.scenario("delivered"))
    assert "return" in delivered["allowed_actions"]
    assert store.get_meta("anchor_date") == china_now().date().isoformat()
    assert seed.prepare(db) == f"using {db}"


def test_reset_restores_the_demo(tmp_path: Path) -> None:
    db = tmp_path / "var" / "shop.db"
    assert seed.prepare(db).startswith("seeded")
    store = Store(str(db))
    store.cancel(seed.scenario("pending_payment"), "")
    store.close()
    assert seed.prepare(db, reset=True).startswith("seeded")
    assert Store(str(db)).order(seed.scenario("pending_payment"))["state"] == "pending_payment"


def test_readme_documents_every_scenario() -> None:
    readme = (ROOT / "shop_api" / "README.md").read_text(encoding="utf-8")
    missing = [item.key for item in seed.SCENARIOS if f"`{item.value}`" not in readme]
    assert not missing


def test_contract_check_catches_differences() -> None:
    spec = OpenApi()
    refund = {"$ref": "#/components/schemas/Refund"}
    good = {
        "refund_id": "RF1", "order_id": "123456789012", "payment_id": None,
        "kind": "cancellation", "status": "pending", "amount": "1.00", "method": "alipay",
        "reason": "r", "rejection_reason": None, "created_at": "2026-11-22T10:00:00+08:00",
        "expected_arrival": "2026-11-25", "completed_at": None,
    }
    assert spec.validate(refund, good) == []
    bad = {**good, "status": "done", "amount": 1, "created_at": "2026-11-22T10:00:00",
           "extra": True}
    del bad["method"]
    assert len(spec.validate(refund, bad)) == 5


def test_crossing_midnight_soon_after_seeding_moves_nothing_into_the_future(
    tmp_path: Path,
) -> None:
    store = Store(str(tmp_path / "shop.db"))
    just_after_midnight = china_now().replace(hour=0, minute=10, second=0, microsecond=0)
    seed.seed(store, just_after_midnight - timedelta(minutes=20))
    assert seed.roll_forward(store, just_after_midnight) == 0
    latest = max(store.order(seed.scenario("shipped"))["tracking_events"],
                 key=lambda event: event["time"])
    assert datetime.fromisoformat(latest["time"]) <= just_after_midnight
    assert seed.roll_forward(store, just_after_midnight + timedelta(days=1)) == 1
