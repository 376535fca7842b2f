"""The service's store on SQLite and on PostgreSQL (a throwaway server, tests/postgres.py, or
the database HANDOFF_TEST_POSTGRES_URL names; same code, SQLAlchemy Core): creation once per
key, one open handoff per conversation, the state machine, queue order and position, messages
and the feed."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from handoff import auth
from handoff.store import ConflictError, NotFoundError, Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        yield Store(f"sqlite:///{tmp_path / 'handoff.db'}")
    else:
        yield Store(request.getfixturevalue("postgres_url"))


def fields(conversation: str, priority: str = "normal", at: float = 100.0) -> dict:
    return {"conversation_id": conversation, "channel": "rest", "customer_id": None,
            "reason": "explicit_request", "priority": priority, "topic": None,
            "summary": "摘要", "payload": "{}", "bot_paused": True, "requested_at": at}


def turn(text: str, at: float) -> dict:
    return {"sender": "customer", "text": text, "timestamp": at, "meta": "{}"}


def test_one_handoff_per_key_and_per_open_conversation(store: Store) -> None:
    c = f"s-{uuid.uuid4().hex[:8]}"
    first = store.create_handoff(f"{c}:1", fields(c), [turn("转人工", 1.0)])
    assert first.created and first.handoff["status"] == "queued"
    assert not store.create_handoff(f"{c}:1", fields(c), []).created
    joined = store.create_handoff(f"{c}:2", fields(c), [])
    assert not joined.created and joined.handoff["id"] == first.handoff["id"]
    store.transition(first.handoff["id"], "cancel")
    assert store.create_handoff(f"{c}:3", fields(c), []).created  # a new request later


def test_the_state_machine_and_who_may_close(store: Store) -> None:
    one = store.add_agent(f"a-{uuid.uuid4().hex[:6]}", "小王", auth.hash_password("x" * 10))
    two = store.add_agent(f"b-{uuid.uuid4().hex[:6]}", "小陈", auth.hash_password("x" * 10))
    c = f"s-{uuid.uuid4().hex[:8]}"
    handoff = store.create_handoff(c, fields(c), []).handoff
    with pytest.raises(ConflictError):
        store.transition(handoff["id"], "resolve", one)
    assert store.transition(handoff["id"], "claim", one)["agent_name"] == "小王"
    with pytest.raises(ConflictError, match="小王"):
        store.transition(handoff["id"], "claim", two)
    with pytest.raises(ConflictError):
        store.transition(handoff["id"], "handback", two)
    assert store.transition(handoff["id"], "resolve", one)["status"] == "resolved"
    with pytest.raises(NotFoundError):
        store.transition("nope", "claim", one)


def test_queue_order_and_positions(store: Store) -> None:
    tag = uuid.uuid4().hex[:6]
    rows = {}
    for name, priority in [("n1", "normal"), ("u1", "urgent"), ("h1", "high"), ("n2", "normal")]:
        rows[name] = store.create_handoff(f"{tag}{name}", fields(f"{tag}{name}", priority),
                                          []).handoff
    mine = [h["conversation_id"] for h in store.list_handoffs(("queued",))
            if h["conversation_id"].startswith(tag)]
    assert mine == [f"{tag}u1", f"{tag}h1", f"{tag}n1", f"{tag}n2"]
    positions = [store.queue_position(store.handoff(rows[n]["id"])) for n in ("u1", "h1", "n1")]
    assert positions == sorted(positions)
    assert store.expected_wait(3, agents_online=2, default_minutes=5) == 8
    assert store.expected_wait(None, 1, 5) is None


def test_messages_live_dedup_and_customer_feed(store: Store) -> None:
    c = f"s-{uuid.uuid4().hex[:8]}"
    handoff = store.create_handoff(c, fields(c), [turn("转人工", 1.0)]).handoff
    assert store.add_message(handoff, "customer", "在吗", "live", event_key="e-1") is not None
    assert store.add_message(handoff, "customer", "在吗", "live", event_key="e-1") is None
    store.add_message(handoff, "agent", "您好", "agent", {"custom": {"handoff": {}}},
                      to_customer=True)
    assert [m["text"] for m in store.messages(handoff["id"])] == ["转人工", "在吗", "您好"]
    [feed] = store.customer_messages(c)
    assert feed["text"] == "您好" and store.customer_messages(c, after=feed["id"]) == []


def test_sessions_expire_and_end(store: Store) -> None:
    name = f"z-{uuid.uuid4().hex[:6]}"
    agent_id = store.add_agent(name, "小赵", auth.hash_password("secret-123"))
    with pytest.raises(ConflictError):
        store.add_agent(name, "again", "x")
    store.add_session("live", agent_id, hours=1)
    store.add_session("old", agent_id, hours=-1)
    assert store.agent_for_session("live")["username"] == name
    assert store.agent_for_session("old") is None
    assert store.agents_online(60) >= 1
    store.end_session("live")
    assert store.agent_for_session("live") is None
    assert auth.verify_password("secret-123", store.agent_by_username(name)["password_hash"])
    assert not auth.verify_password("secret-124", store.agent_by_username(name)["password_hash"])


def test_two_concurrent_requests_with_different_keys_make_one_open_handoff(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Both requests pass the "is one open?" check before either inserts: the database itself
    # must keep the second one out.
    c = f"s-{uuid.uuid4().hex[:8]}"
    both_checked = threading.Barrier(2, timeout=10)
    check, waited = store._open_for, threading.local()

    def racing_check(conversation_id: str) -> dict | None:
        found = check(conversation_id)
        if not getattr(waited, "done", False):  # only the first check of each request
            waited.done = True
            both_checked.wait()
        return found

    monkeypatch.setattr(store, "_open_for", racing_check)
    results = []
    threads = [threading.Thread(target=lambda k=k: results.append(
        store.create_handoff(f"{c}:{k}", fields(c), [turn("转人工", 1.0)]))) for k in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2, "a request failed instead of joining the open handoff"
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].handoff["id"] == results[1].handoff["id"]
    rows = [h for h in store.list_handoffs(("queued", "claimed")) if h["conversation_id"] == c]
    assert len(rows) == 1
