"""The reports' computation without HTTP (handoff/reports.py): date ranges, folding tracker
events into conversations, the incremental summary against a full scan, grouping of
not-understood messages, exports, the role column of older stores, and a small run of the
benchmark (evaluation/reports_bench.py)."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from contracts import db as contracts_db
from evaluation import reports_bench
from handoff import reports
from handoff.store import Store

DAY = date(2026, 3, 2)
# 2026-03-02 09:30 Beijing = 01:30 UTC
T0 = reports.DateRange(DAY, DAY).start + 9.5 * 3600


def user(sender: str, at: float, text: str, intent: str, confidence: float = 0.95,
         emotion: str = "calm", channel: str = "rest", **parse: Any) -> dict[str, Any]:
    data = {"event": "user", "timestamp": at, "text": text, "input_channel": channel,
            "parse_data": {"text": text, "intent": {"name": intent, "confidence": confidence},
                           "emotion": {"label": emotion, "score": 0.5}, **parse}}
    return {"sender_id": sender, "type_name": "user", "timestamp": at, "intent_name": intent,
            "action_name": None, "data": json.dumps(data, ensure_ascii=False)}


def start(sender: str, at: float) -> dict[str, Any]:
    return {"sender_id": sender, "type_name": "session_started", "timestamp": at,
            "intent_name": None, "action_name": None,
            "data": json.dumps({"event": "session_started", "timestamp": at})}


@pytest.fixture
def stores(tmp_path: Path) -> tuple[sa.engine.Engine, Store, reports.Summary]:
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    meta = sa.MetaData()
    reports_bench.tracker_table(meta)
    writer = sa.create_engine(tracker_url, future=True)
    meta.create_all(writer)
    store = Store(f"sqlite:///{tmp_path / 'handoff.db'}")
    return writer, store, reports.Summary(store.engine, reports.tracker_engine(tracker_url))


def write(engine: sa.engine.Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as db:
        db.execute(sa.text("INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                           "action_name, data) VALUES (:sender_id, :type_name, :timestamp, "
                           ":intent_name, :action_name, :data)"), rows)


@pytest.mark.parametrize("first,last", [
    ("2026-13-01", None), ("2026-02-30", None), ("yesterday", None), ("2026-1-1", None),
    ("' OR 1=1 --", None), ("2026-03-01;DROP TABLE agents", None), ("1999-12-31", None),
    ("2026-03-05", "2026-03-01"), ("2020-01-01", "2026-01-01"), ("２０２６-03-01", None),
    ("2026-03-01\n", None),
])
def test_hostile_or_impossible_ranges_are_refused(first: str, last: str | None) -> None:
    with pytest.raises(reports.RangeError):
        reports.parse_range(first, last or "2026-03-10")


def test_a_range_is_whole_beijing_days() -> None:
    span = reports.parse_range("2026-03-01", "2026-03-02")
    assert span.days() == ["2026-03-01", "2026-03-02"]
    # Beijing midnight is 16:00 UTC the day before
    assert span.start == 1772294400.0 and span.end - span.start == 2 * 86400
    assert reports.parse_range(None, None, today=DAY).first == date(2026, 2, 1)


def test_conversations_topics_emotion_and_missed_messages_from_tracker_events(stores) -> None:
    writer, store, summary = stores
    write(writer, [
        start("a", T0), user("a", T0 + 1, "你好", "greet"),
        user("a", T0 + 5, "我的快递到哪了", "ask_order_status"),
        user("a", T0 + 9, "怎么还没到 气死了", "ask_order_status", emotion="angry"),
        start("b", T0 + 3600), user("b", T0 + 3601, "帮我订张机票", "nlu_fallback", 0.3,
                                    channel="socketio"),
        user("b", T0 + 3605, "运费多少", "faq", 0.9, channel="socketio",
             response_selector={"faq": {"response": {
                 "intent_response_key": "faq/shipping_fee"}}}),
        user("b", T0 + 3606, "/affirm", "affirm", 0.2),  # a button: never "not understood"
        user("b", T0 + 3607, "嗯嗯那个", "deny", 0.41),
    ])
    assert summary.refresh() == 9
    span = reports.DateRange(DAY, DAY)
    rows = {c["sender_id"]: c for c in reports.load_conversations(store.engine, span)}
    assert rows["a"]["topic"] == "order_status" and rows["a"]["emotion"] == "angry"
    assert rows["a"]["emotion_topic"] == "order_status" and rows["a"]["channel"] == "rest"
    assert rows["b"]["topic"] == "order_status" and rows["b"]["channel"] == "socketio"
    missed = reports.load_missed(store.engine, span)
    assert sorted((m["text"], m["reason"]) for m in missed) == [
        ("嗯嗯那个", "low_confidence"), ("帮我订张机票", "nlu_fallback")]
    report = reports.compute(list(rows.values()), [], missed, [], span)
    assert report["totals"]["conversations"] == 2
    assert report["totals"]["fallback_rate"] == round(2 / 7, 4)
    assert report["traffic"]["per_hour"][9]["conversations"] == 1  # Beijing hours
    assert report["traffic"]["per_hour"][10]["conversations"] == 1


def test_damaged_events_never_stop_a_refresh(stores) -> None:
    writer, store, summary = stores
    damaged = [json.dumps(x) for x in (5, [1], {"parse_data": "x"},
                                       {"text": ["a"], "parse_data": {"intent": "faq"}},
                                       {"text": "嗯", "input_channel": {"a": 1},
                                        "parse_data": {"intent": {"name": ["x"]},
                                                       "emotion": "angry"}})] + ["{not json"]
    write(writer, [start("d", T0)] + [
        {"sender_id": "d", "type_name": "user", "timestamp": T0 + i, "intent_name": None,
         "action_name": None, "data": data} for i, data in enumerate(damaged, 1)])
    assert summary.refresh() == 7
    [row] = reports.load_conversations(store.engine, reports.DateRange(DAY, DAY))
    assert row["user_messages"] == 6 and row["channel"] == "unknown"
    assert [m["text"] for m in reports.load_missed(store.engine, reports.DateRange(DAY, DAY))] \
        == ["嗯"]


def test_a_new_session_is_a_new_conversation_and_refresh_continues_the_open_one(stores) -> None:
    writer, store, summary = stores
    write(writer, [start("c", T0), user("c", T0 + 1, "我要退款", "request_refund")])
    summary.refresh()
    write(writer, [user("c", T0 + 60, "退款怎么还没到 太过分了", "ask_refund_status",
                        emotion="upset"),
                   start("c", T0 + 7200), user("c", T0 + 7201, "开发票", "request_invoice")])
    assert summary.refresh() == 3
    assert summary.refresh() == 0
    rows = sorted(reports.load_conversations(store.engine, reports.DateRange(DAY, DAY)),
                  key=lambda c: c["started_at"])
    assert [(c["topic"], c["user_messages"], c["emotion"]) for c in rows] == [
        ("refund", 2, "upset"), ("invoice", 1, "calm")]


def test_incremental_summary_agrees_with_a_full_scan(tmp_path: Path) -> None:
    # evaluation/reports_bench.py with a small N: it checks the incremental summary against a
    # full scan after 1% more conversations; here the figures of both are compared in full.
    figures = reports_bench.run(300, 5, tmp_path)
    assert set(figures) >= {"naive full scan (baseline)", "warm: nothing new, report"}
    store = Store(f"sqlite:///{tmp_path / 'handoff.db'}")
    tracker = reports.tracker_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    span = reports.DateRange(date.today() - timedelta(days=4), date.today())
    summary = reports.Summary(store.engine, tracker)

    def from_summary() -> dict[str, Any]:
        return reports.compute(reports.load_conversations(store.engine, span),
                               reports.load_handoffs(store.engine, span.start, span.end + 86400),
                               reports.load_missed(store.engine, span), [], span)

    full = reports_bench.naive(tracker, store, span)
    assert reports_bench._comparable(from_summary()) == reports_bench._comparable(full)
    assert full["totals"]["conversations"] == 303 and full["handoffs"]["total"] > 0
    summary.rebuild()
    assert reports_bench._comparable(from_summary()) == reports_bench._comparable(full)


def test_tracker_store_is_opened_read_only(stores, tmp_path: Path) -> None:
    engine = reports.tracker_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    with pytest.raises(sa.exc.OperationalError, match="readonly"):
        with engine.begin() as db:
            db.execute(sa.text("DELETE FROM events"))
    missing = reports.tracker_engine(f"sqlite:///{tmp_path / 'none.db'}")
    assert reports.Summary(Store(f"sqlite:///{tmp_path / 'h2.db'}").engine, missing).refresh() == 0


def test_similar_messages_share_a_group() -> None:
    texts = ["帮我订张机票", "我想订去北京的机票", "订机票", "今天天气怎么样", "明天天气怎么样",
             "给我讲个笑话", "讲个笑话吧", "今天天气怎么样"]
    missed = [{"text": t, "sender_id": f"s{i}", "intent": "nlu_fallback", "timestamp": i,
               "confidence": 0.2, "reason": "nlu_fallback"} for i, t in enumerate(texts)]
    groups = reports.group_missed(missed)
    members = [{e["text"] for e in g["examples"]} for g in groups]
    assert {"帮我订张机票", "我想订去北京的机票", "订机票"} in members
    assert {"给我讲个笑话", "讲个笑话吧"} in members
    assert groups[0]["label"] == "今天天气怎么样" and groups[0]["messages"] == 3


def test_csv_cells_never_start_a_formula() -> None:
    report = reports.compute([], [], [], [], reports.DateRange(DAY, DAY))
    report["fallback"]["groups"] = [{"label": "=HYPERLINK(\"http://x\")", "messages": 1,
                                     "distinct": 1, "conversations": 1,
                                     "examples": [{"text": "@SUM(A1)", "count": 1}]}]
    text = reports.to_csv(report, "missed_groups")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "分组" and rows[1][0] == "'=HYPERLINK(\"http://x\")"
    with pytest.raises(reports.RangeError):
        reports.to_csv(report, "../../etc/passwd")


def test_an_older_store_gets_the_role_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    # The store as it was before roles (revision 0003), with an agent in it.
    command.upgrade(contracts_db.alembic_config("handoff", f"sqlite:///{path}"), "0003")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO agents (username, display_name, password_hash, created_at) "
                   "VALUES ('wang', '小王', 'x', 0)")
    store = Store(f"sqlite:///{path}")
    assert store.agent_by_username("wang")["role"] == "agent"
    store.add_agent("boss", "主管", "x", role="supervisor")
    assert store.agent_by_username("boss")["role"] == "supervisor"
    Store(f"sqlite:///{path}")  # a second start changes nothing
    with pytest.raises(ValueError):
        store.add_agent("eve", "x", "x", role="admin")


def test_team_view_counts_load_queue_and_longest_wait(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'handoff.db'}")
    wang = store.add_agent("wang", "小王", "x")
    store.add_agent("li", "小李", "x")
    with store.engine.begin() as db:
        db.execute(sa.text("UPDATE agents SET last_seen_at = :now WHERE id = :id"),
                   {"now": 1000.0, "id": wang})
    for i, (status, created) in enumerate([("queued", 700.0), ("queued", 900.0),
                                           ("claimed", 800.0)]):
        created_row = store.create_handoff(f"k{i}", {
            "conversation_id": f"c{i}", "channel": "rest", "customer_id": None,
            "reason": "explicit_request", "priority": "high" if i else "normal", "topic": None,
            "summary": "", "payload": "{}", "bot_paused": True, "requested_at": created}, [])
        with store.engine.begin() as db:
            db.execute(sa.text("UPDATE handoffs SET created_at = :c, status = :s, "
                               "agent_id = :a WHERE id = :id"),
                       {"c": created, "s": status, "a": wang if status == "claimed" else None,
                        "id": created_row.handoff["id"]})
    team = reports.team(store.engine, online_seconds=60, now=1030.0)
    assert team["queue_length"] == 2 and team["longest_wait_seconds"] == 330
    assert team["agents_online"] == 1 and team["in_progress"] == 1
    agents = {a["username"]: a for a in team["agents"]}
    assert agents["wang"]["online"] and agents["wang"]["load"] == 1
    assert not agents["li"]["online"] and agents["li"]["load"] == 0
    assert {p["priority"]: p["handoffs"] for p in team["queue_by_priority"]} == {
        "urgent": 0, "high": 1, "normal": 1}


@pytest.mark.parametrize("values,share,expected", [
    ([0, 60], 0.5, 0), ([1, 2, 3, 4, 5, 6], 0.5, 3), ([1, 2, 3, 4, 5], 0.5, 3),
    ([1, 2, 3, 4], 0.5, 2), (list(range(1, 11)), 0.9, 9), (list(range(1, 11)), 0.95, 10),
    ([7], 0.9, 7), ([], 0.5, None)])
def test_nearest_rank_percentile(values: list[int], share: float, expected: int | None) -> None:
    assert reports.percentile(values, share) == expected


def test_waits_and_handling_times_of_closed_handoffs() -> None:
    t = 1_765_000_000.0
    rows = [
        {"created_at": t, "claimed_at": t + 30, "closed_at": t + 90, "status": "resolved",
         "reason": "complaint", "priority": "high"},
        {"created_at": t, "claimed_at": t + 10, "closed_at": t + 10, "status": "handed_back",
         "reason": "explicit_request", "priority": "normal"},
        {"created_at": t, "claimed_at": t + 5, "closed_at": None, "status": "claimed",
         "reason": "explicit_request", "priority": "normal"},
        {"created_at": t, "claimed_at": None, "closed_at": t + 600, "status": "abandoned",
         "reason": "explicit_request", "priority": "normal"},
    ]
    figures = reports.handoff_figures(rows)
    assert figures["wait_seconds"] == {"p50": 10.0, "p90": 30.0, "max": 30.0, "count": 3}
    # Handling: only what an agent closed (resolved, handed back), not the open one.
    assert figures["handling_seconds"] == {"p50": 0.0, "p90": 60.0, "mean": 30.0,
                                           "max": 60.0, "count": 2}
    assert figures["abandoned"] == 1 and figures["handed_back"] == 1
