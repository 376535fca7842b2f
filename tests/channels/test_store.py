"""The channel's durable store: a callback is claimed once until it expires, across restarts."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from bot.channels.store import ChannelStore


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_callback_is_claimed_once(tmp_path: Path) -> None:
    store = ChannelStore(tmp_path / "state.db")
    assert store.claim("msg:1", ttl=60)
    assert not store.claim("msg:1", ttl=60)
    assert store.claim("msg:2", ttl=60)


def test_a_claim_survives_a_restart(tmp_path: Path) -> None:
    ChannelStore(tmp_path / "state.db").claim("msg:1", ttl=60)
    assert not ChannelStore(tmp_path / "state.db").claim("msg:1", ttl=60)


def test_a_claim_expires(tmp_path: Path) -> None:
    clock = Clock()
    store = ChannelStore(tmp_path / "state.db", clock=clock)
    assert store.claim("msg:1", ttl=60)
    clock.now += 59
    assert not store.claim("msg:1", ttl=60)
    clock.now += 2
    assert store.claim("msg:1", ttl=60)


def test_expired_rows_are_purged(tmp_path: Path) -> None:
    clock = Clock()
    store = ChannelStore(tmp_path / "state.db", clock=clock)
    for i in range(150):
        store.claim(f"old:{i}", ttl=10)
    clock.now += 11
    for i in range(60):
        store.claim(f"new:{i}", ttl=10)
    with store.engine.connect() as db:
        count = db.execute(sa.text("SELECT COUNT(*) FROM seen_callbacks")).scalar()
    assert count < 210


def test_offered_buttons_are_remembered_per_user_until_they_expire(tmp_path: Path) -> None:
    clock = Clock()
    store = ChannelStore(tmp_path / "state.db", clock=clock)
    buttons = [{"title": "退货运费谁出", "payload": "/faq/returns_shipping_fee"}]
    store.offer_buttons("wechat:o1", buttons, ttl=60)
    assert store.offered_buttons("wechat:o1") == buttons
    assert store.offered_buttons("wechat:o2") == []
    clock.now += 61
    assert store.offered_buttons("wechat:o1") == []


def test_offering_no_buttons_forgets_the_previous_ones(tmp_path: Path) -> None:
    store = ChannelStore(tmp_path / "state.db")
    store.offer_buttons("wechat:o1", [{"title": "a", "payload": "/a"}], ttl=60)
    store.offer_buttons("wechat:o1", [], ttl=60)
    assert store.offered_buttons("wechat:o1") == []
