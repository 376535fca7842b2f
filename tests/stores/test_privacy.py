"""Personal data (PIPL) on SQLite and on PostgreSQL: `ops.forget` deletes one customer's
conversations in every store and nobody else's, says how many rows per store, changes nothing
on a dry run or a second run; `ops.retention` deletes what is older than RETENTION_DAYS.

The data is written the way the services write it: Rasa's own tracker store (the project's
SafeSQLTrackerStore) publishing to Rasa's SQL event broker, the handoff store, the widget's
ratings, the action server's outbox and the WeChat channel's state. The jobs run as the
operator runs them, as processes that call each service's privacy command."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.channels.store import ChannelStore
from bot.outbox import Outbox
from contracts.db import make_engine
from handoff import reports
from handoff.store import Store as HandoffStore
from tests import postgres
from widget.csat import CsatStore

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400.0
PHONE_A, PHONE_B = "13800001111", "13900002222"


@dataclass
class Stores:
    """Where each store is, as the services' settings name it."""

    tracker: str
    stream: str
    handoff: str
    widget: str
    outbox: str
    wechat: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "TRACKER_DB_URL": self.tracker, "EVENTS_DB_URL": self.stream,
                "HANDOFF_DB_URL": self.handoff, "WIDGET_DB": self.widget,
                "HANDOFF_OUTBOX": self.outbox, "WECHAT_STATE_DB": self.wechat}


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    """Empty stores: SQLite files, or PostgreSQL databases (Rasa's two `events` tables in
    their own databases; the project's four stores share one, as they may)."""
    if request.param == "sqlite":
        return Stores(*(f"sqlite:///{tmp_path / name}.db" for name in
                        ("tracker", "stream", "handoff", "widget", "outbox", "wechat")))
    server = request.getfixturevalue("postgres_server")
    shared = postgres.new_database(server)
    return Stores(postgres.new_database(server), postgres.new_database(server),
                  shared, shared, shared, shared)


# --- writing data the way the services do ---------------------------------------------------

def _rasa_stores(stores: Stores):  # noqa: ANN202 (Rasa's types)
    from rasa.core.brokers.sql import SQLEventBroker

    from bot.stores.tracker import SafeSQLTrackerStore

    def parts(url: str) -> dict:
        u = sa.engine.make_url(url)
        if u.drivername.startswith("sqlite"):
            return {"dialect": "sqlite", "db": u.database}
        return {"dialect": "postgresql", "host": u.host, "port": u.port, "db": u.database,
                "username": u.username}

    broker = SQLEventBroker(**parts(stores.stream))
    return SafeSQLTrackerStore(event_broker=broker, **parts(stores.tracker)), broker


def conversation(stores: Stores, sender: str, phone: str | None = None,
                 customer_id: str | None = None, at: float | None = None,
                 channel: str = "socketio") -> None:
    """A short conversation saved by Rasa's tracker store, which publishes its events."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    at = time.time() if at is None else at
    metadata = {"customer_id": customer_id} if customer_id else {}
    events = [ActionExecuted("action_listen", timestamp=at),
              UserUttered("我的快递到哪了", {"name": "order_status", "confidence": 0.9},
                          input_channel=channel, metadata=metadata, timestamp=at + 1),
              BotUttered("请问您的手机号是多少？", timestamp=at + 2)]
    if phone:
        events += [UserUttered(phone, {"name": "inform", "confidence": 0.9},
                               input_channel=channel, timestamp=at + 3),
                   SlotSet("phone", phone, timestamp=at + 4)]
    tracker_store, broker = _rasa_stores(stores)
    asyncio.run(tracker_store.save(DialogueStateTracker.from_events(sender, events)))
    tracker_store.engine.dispose()
    broker.engine.dispose()


def handoff(stores: Stores, sender: str, customer_id: str, close: bool = False) -> str:
    """A handoff with its transcript and a live message, through the handoff store."""
    store = HandoffStore(stores.handoff)
    fields = {"conversation_id": sender, "channel": "socketio", "customer_id": customer_id,
              "reason": "explicit_request", "priority": "normal", "topic": "order_status",
              "summary": "客户要求人工", "payload": json.dumps({"slots": {}}),
              "bot_paused": True, "requested_at": time.time()}
    created = store.create_handoff(f"{sender}:1", fields, [
        {"sender": "customer", "text": "转人工", "timestamp": time.time(), "meta": "{}"}])
    store.add_message(created.handoff, "customer", "还在吗", "live")
    # What agents add: a tag and a transfer to a group (rows keyed by the handoff).
    store.set_tags(created.handoff["id"], ["物流"])
    agent = store.add_agent(f"agent-{sender}", "小王", "x")
    store.transfer(created.handoff["id"], agent, to_group="after_sales")
    if close:
        store.transition(created.handoff["id"], "handback")
    store.engine.dispose()
    return created.handoff["id"]


def report_summary(stores: Stores) -> None:
    """The supervisors' summary of the tracker store, folded by the handoff service's code."""
    engine, tracker = make_engine(stores.handoff), make_engine(stores.tracker)
    HandoffStore(stores.handoff).engine.dispose()  # migrated: the report tables exist
    reports.Summary(engine, tracker).refresh()
    engine.dispose()
    tracker.dispose()


def rating(stores: Stores, sender: str) -> None:
    CsatStore(stores.widget).save(sender, "e1", 5, "很满意", "goodbye")


def kept_handoff(stores: Stores, sender: str, customer_id: str) -> None:
    """A handoff the service could not take, kept in the action server's outbox."""
    Outbox(stores.outbox).add(f"{sender}:9", {"conversation_id": sender,
                                              "customer_id": customer_id, "slots": {}})


def wechat_state(stores: Stores, openid: str, clock: float | None = None) -> None:
    state = ChannelStore(stores.wechat, clock=lambda: clock or time.time())
    state.offer_buttons(f"wechat_{openid}", [{"title": "查物流", "payload": "/order_status"}],
                        ttl=600)
    state.claim(f"event:{openid}:1700000000:subscribe:", ttl=600)
    state.claim("msg:123456", ttl=600)
    state.close()


def customer_data(stores: Stores) -> None:
    """Customer A on the widget and on WeChat (same phone); customer B on the widget."""
    conversation(stores, "web-a1", phone=PHONE_A, customer_id="cust-A")
    conversation(stores, "wechat_oAAA", phone=PHONE_A, channel="wechat")
    conversation(stores, "web-b1", phone=PHONE_B, customer_id="cust-B")
    for sender, customer in (("web-a1", "cust-A"), ("web-b1", "cust-B")):
        handoff(stores, sender, customer)
        rating(stores, sender)
        kept_handoff(stores, sender, customer)
    wechat_state(stores, "oAAA")
    wechat_state(stores, "oBBB")
    report_summary(stores)


# --- reading what is left ---------------------------------------------------------------------

def rows(url: str, sql: str, **params: object) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = int(conn.execute(sa.text(sql), params).scalar())
    engine.dispose()
    return count


def left_of(stores: Stores, senders: list[str]) -> dict[str, int]:
    """Rows of these conversations in each store."""
    ids = {"ids": tuple(senders)}
    expanding = sa.bindparam("ids", expanding=True)

    def count(url: str, sql: str) -> int:
        engine = make_engine(url)
        if not sa.inspect(engine).has_table(sql.split(" FROM ")[1].split()[0]):
            return 0  # never written to
        with engine.connect() as conn:
            n = int(conn.execute(sa.text(sql).bindparams(expanding), ids).scalar())
        engine.dispose()
        return n

    return {
        "tracker": count(stores.tracker, "SELECT COUNT(*) FROM events WHERE sender_id IN :ids"),
        "stream": count(stores.stream, "SELECT COUNT(*) FROM events WHERE sender_id IN :ids"),
        "handoffs": count(stores.handoff,
                          "SELECT COUNT(*) FROM handoffs WHERE conversation_id IN :ids"),
        "messages": count(stores.handoff,
                          "SELECT COUNT(*) FROM messages WHERE conversation_id IN :ids"),
        "report": count(stores.handoff, "SELECT COUNT(*) FROM report_conversations "
                        "WHERE sender_id IN :ids"),
        "tags": count(stores.handoff, "SELECT COUNT(*) FROM handoff_tags WHERE handoff_id IN "
                      "(SELECT id FROM handoffs WHERE conversation_id IN :ids)"),
        "csat": count(stores.widget, "SELECT COUNT(*) FROM csat WHERE session_id IN :ids"),
        "outbox": count(stores.outbox,
                        "SELECT COUNT(*) FROM outbox WHERE conversation_id IN :ids"),
        "buttons": count(stores.wechat,
                         "SELECT COUNT(*) FROM offered_buttons WHERE user_id IN :ids"),
    }


def run_job(stores: Stores, module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], env=stores.env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def counts_of(output: str) -> dict[tuple[str, str], int]:
    """(store, table) -> rows from the job's table."""
    found = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            found[(parts[0], parts[1])] = int(parts[2])
    return found


# --- forget ------------------------------------------------------------------------------------

def test_forgetting_a_customer_deletes_their_conversations_everywhere_and_only_theirs(
        stores: Stores) -> None:
    customer_data(stores)
    a, b = ["web-a1", "wechat_oAAA"], ["web-b1", "wechat_oBBB"]
    before_b = left_of(stores, b)
    before_a = left_of(stores, a)
    assert all(before_a.values()), before_a

    dry = run_job(stores, "ops.forget", PHONE_A, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "web-a1" in dry.stdout and "wechat_oAAA" in dry.stdout
    assert left_of(stores, a) == before_a  # a dry run deletes nothing

    done = run_job(stores, "ops.forget", PHONE_A)
    assert done.returncode == 0, done.stderr
    deleted = counts_of(done.stdout)
    assert deleted == counts_of(dry.stdout)  # the dry run counted exactly this
    assert deleted[("tracker", "events")] == before_a["tracker"]
    assert deleted[("event_stream", "events")] == before_a["stream"]
    assert deleted[("handoff", "handoffs")] == 1
    assert deleted[("handoff", "messages")] == before_a["messages"]
    assert deleted[("widget", "csat")] == 1
    assert deleted[("outbox", "outbox")] == 1
    assert deleted[("wechat", "offered_buttons")] == 1
    assert deleted[("wechat", "seen_callbacks")] == 1

    assert not any(left_of(stores, a).values())
    assert left_of(stores, b) == before_b
    assert rows(stores.wechat, "SELECT COUNT(*) FROM seen_callbacks WHERE key LIKE :k",
                k="event:oBBB:%") == 1
    assert rows(stores.tracker, "SELECT COUNT(*) FROM events WHERE data LIKE :p",
                p=f"%{PHONE_A}%") == 0

    again = run_job(stores, "ops.forget", PHONE_A)
    assert again.returncode == 0
    assert set(counts_of(again.stdout).values()) == {0}


def test_a_customer_id_known_only_to_the_handoff_service_finds_the_conversation(
        stores: Stores) -> None:
    conversation(stores, "rest-c1")  # the tracker does not know who the customer is
    handoff(stores, "rest-c1", "cust-C", close=True)
    conversation(stores, "rest-d1")
    done = run_job(stores, "ops.forget", "cust-C")
    assert done.returncode == 0, done.stderr
    assert counts_of(done.stdout)[("tracker", "events")] > 0
    assert not any(left_of(stores, ["rest-c1"]).values())
    assert left_of(stores, ["rest-d1"])["tracker"] > 0


def test_wildcards_in_a_customer_id_match_only_themselves(stores: Stores) -> None:
    conversation(stores, "会话-1 '%", customer_id="a_b%")
    conversation(stores, "s-2", customer_id="aXbYZ")
    done = run_job(stores, "ops.forget", "a_b%")
    assert done.returncode == 0, done.stderr
    assert not any(left_of(stores, ["会话-1 '%"]).values())
    assert left_of(stores, ["s-2"])["tracker"] > 0


def test_forget_refuses_an_empty_customer(stores: Stores) -> None:
    done = run_job(stores, "ops.forget", "  ")
    assert done.returncode == 2
    assert "empty" in done.stderr


# --- retention ---------------------------------------------------------------------------------

def age(url: str, sql: str, **params: object) -> None:
    """Move rows back in time (the stores stamp them with the current time)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)
    engine.dispose()


def test_retention_deletes_what_is_older_than_the_setting_everywhere(stores: Stores) -> None:
    old, new = time.time() - 400 * DAY, time.time() - 10 * DAY
    conversation(stores, "web-old", phone=PHONE_A, at=old)
    conversation(stores, "web-new", phone=PHONE_B, at=new)
    old_id = handoff(stores, "web-old", "cust-A", close=True)
    handoff(stores, "web-new", "cust-B", close=True)
    waiting = handoff(stores, "web-waiting", "cust-W")  # still queued: stays
    for sender in ("web-old", "web-new"):
        rating(stores, sender)
        kept_handoff(stores, sender, "c")
    age(stores.handoff, "UPDATE handoffs SET created_at = :t, closed_at = :t WHERE id IN "
        "(:a, :b)", t=old, a=old_id, b=waiting)
    age(stores.widget, "UPDATE csat SET updated_at = '2020-01-01T00:00:00+00:00' "
        "WHERE session_id = 'web-old'")
    age(stores.outbox, "UPDATE outbox SET created_at = :t WHERE conversation_id = 'web-old'",
        t=old)
    wechat_state(stores, "oOLD", clock=old)
    wechat_state(stores, "oNEW")
    report_summary(stores)
    env_days = {**stores.env(), "RETENTION_DAYS": "180"}

    done = subprocess.run([sys.executable, "-m", "ops.retention"], env=env_days, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "older than 180 days" in done.stdout
    deleted = counts_of(done.stdout)
    assert deleted[("handoff", "handoffs")] == 1
    assert deleted[("widget", "csat")] == 1
    assert deleted[("outbox", "outbox")] == 1
    assert deleted[("wechat", "offered_buttons")] == 1
    assert not any(left_of(stores, ["web-old", "wechat_oOLD"]).values())
    new_left = left_of(stores, ["web-new", "wechat_oNEW"])
    assert all(new_left.values()), new_left
    assert left_of(stores, ["web-waiting"])["handoffs"] == 1

    again = subprocess.run([sys.executable, "-m", "ops.retention"], env=env_days, cwd=ROOT,
                           capture_output=True, text=True, timeout=300, check=False)
    assert set(counts_of(again.stdout).values()) == {0}


def test_retention_refuses_a_missing_or_bad_setting(stores: Stores) -> None:
    env = {k: v for k, v in stores.env().items() if k != "RETENTION_DAYS"}
    for value in (None, "0", "abc"):
        if value is not None:
            env["RETENTION_DAYS"] = value
        done = subprocess.run([sys.executable, "-m", "ops.retention"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2
        assert "RETENTION_DAYS" in done.stderr
