"""Personal data the bot keeps: Rasa's tracker store (every conversation; the widget's history
is read from it), Rasa's SQL event stream, the action server's handoff outbox and the WeChat
channel's state. ``python -m bot.privacy`` (contracts/privacy.py).

A customer is linked to a conversation (sender id) by the sender id itself (also
``wechat_<openid>``), the `customer_id`/`user_id` a client sent in a message's metadata, the
phone number the customer gave the bot (the `phone` slot) or the customer id of a handoff
waiting in the outbox. Retention deletes tracker and stream events older than the cutoff
(sessions expire after 60 minutes and carry their slots over, so the current session stays
whole), outbox rows created before it and the channel state that has expired.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.channels.store import offered_buttons, seen_callbacks
from bot.outbox import outbox
from contracts import privacy
from contracts.db import database_url, make_engine

WECHAT_PREFIX = "wechat_"
BATCH = 1000
# Rasa's tables (rasa.core.tracker_store.SQLTrackerStore, rasa.core.brokers.sql): read and
# deleted here, created and migrated by Rasa.
tracker_events = sa.table("events", sa.column("id"), sa.column("sender_id"),
                          sa.column("type_name"), sa.column("timestamp"), sa.column("data"))
stream_events = sa.table("events", sa.column("id"), sa.column("sender_id"), sa.column("data"))


def _setting(url_variable: str, path_variable: str, default: str | None) -> str | None:
    """A database from the environment: a URL variable, else a path (or URL) variable."""
    value = os.environ.get(url_variable) or os.environ.get(path_variable) or default
    return database_url(value) if value else None


class _Store:
    """A database this module reads and deletes in, if it exists."""

    name = ""
    tables: tuple[str, ...] = ()

    def __init__(self, url: str | None) -> None:
        self.engine = None if not url or privacy.sqlite_file_missing(url) else make_engine(url)

    def _ready(self) -> bool:
        return self.engine is not None and \
            privacy.existing(self.engine, self.tables) == set(self.tables)

    def _connect(self) -> Connection:
        """A connection to the store, once `_ready()` has found its tables."""
        if self.engine is None:
            raise RuntimeError(f"the {self.name} store has no database")
        return self.engine.connect()

    def _zero(self) -> privacy.Counts:
        return dict.fromkeys(self.tables, 0)


def _customer_in_event(data: str | None, customer: str) -> bool:
    """A message whose metadata names the customer, or the phone slot set to them."""
    try:
        event = json.loads(data or "{}")
    except ValueError:
        return False
    if not isinstance(event, dict):
        return False
    if event.get("event") == "slot":
        return event.get("name") == "phone" and event.get("value") == customer
    metadata = event.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    return customer in (metadata.get("customer_id"), metadata.get("user_id"))


def _senders_naming(conn: Connection, table: Any, customer: str) -> set[str]:
    found = {customer, WECHAT_PREFIX + customer}
    direct = set(conn.execute(sa.select(table.c.sender_id).distinct().where(
        table.c.sender_id.in_(found))).scalars())
    rows = conn.execute(sa.select(table.c.sender_id, table.c.data).where(
        table.c.data.like(privacy.like_containing(customer), escape="\\")))
    return direct | {sender for sender, data in rows if _customer_in_event(data, customer)}


class TrackerEvents(_Store):
    """Rasa's tracker store (SQLTrackerStore's events table)."""

    name = "tracker"
    tables = ("events",)

    def subjects(self, customer: str) -> set[str]:
        """Conversations with this sender id, customer id in metadata or phone slot."""
        if not self._ready():
            return set()
        with self._connect() as conn:
            return _senders_naming(conn, tracker_events, customer)

    def forget(self, sender_ids: set[str], customer: str, dry_run: bool) -> privacy.Counts:
        """Delete every event of these conversations."""
        return self._delete_senders(tracker_events, sender_ids, dry_run)

    def _delete_senders(self, table: Any, sender_ids: set[str],
                        dry_run: bool) -> privacy.Counts:
        if not self._ready():
            return self._zero()
        deleted = 0
        with privacy.deleting(self.engine, dry_run) as conn:
            for batch in privacy.in_batches(sorted(sender_ids)):
                deleted += conn.execute(table.delete().where(
                    table.c.sender_id.in_(batch))).rowcount
        return {"events": deleted}

    def purge(self, before: float, dry_run: bool) -> privacy.Counts:
        """Delete events older than `before`."""
        if not self._ready():
            return self._zero()
        with privacy.deleting(self.engine, dry_run) as conn:
            return {"events": conn.execute(tracker_events.delete().where(
                tracker_events.c.timestamp < before)).rowcount}


class StreamEvents(TrackerEvents):
    """Rasa's SQL event broker table (the event stream the handoff service follows)."""

    name = "event_stream"

    def subjects(self, customer: str) -> set[str]:
        """Conversations with this sender id, customer id in metadata or phone slot."""
        if not self._ready():
            return set()
        with self._connect() as conn:
            return _senders_naming(conn, stream_events, customer)

    def forget(self, sender_ids: set[str], customer: str, dry_run: bool) -> privacy.Counts:
        """Delete every event of these conversations."""
        return self._delete_senders(stream_events, sender_ids, dry_run)

    def purge(self, before: float, dry_run: bool) -> privacy.Counts:
        """Delete events older than `before`; the time is inside each row's JSON, so the
        table is read in batches of ids."""
        if not self._ready():
            return self._zero()
        deleted, after = 0, -1
        with privacy.deleting(self.engine, dry_run) as conn:
            while True:
                rows = conn.execute(sa.select(stream_events.c.id, stream_events.c.data)
                                    .where(stream_events.c.id > after)
                                    .order_by(stream_events.c.id).limit(BATCH)).all()
                if not rows:
                    break
                after = rows[-1].id
                old = [row.id for row in rows if _timestamp(row.data) < before]
                if old:
                    deleted += conn.execute(stream_events.delete().where(
                        stream_events.c.id.in_(old))).rowcount
        return {"events": deleted}


def _timestamp(data: str | None) -> float:
    try:
        event = json.loads(data or "{}")
        return float(event.get("timestamp") or 0) if isinstance(event, dict) else 0.0
    except (TypeError, ValueError):
        return 0.0


class OutboxData(_Store):
    """The action server's handoff outbox (bot/outbox.py)."""

    name = "outbox"
    tables = ("outbox",)

    def subjects(self, customer: str) -> set[str]:
        """Conversations of handoffs whose customer id or phone is this customer."""
        if not self._ready():
            return set()
        with self._connect() as conn:
            rows = conn.execute(sa.select(outbox.c.conversation_id, outbox.c.payload).where(
                outbox.c.payload.like(privacy.like_containing(customer), escape="\\"))).all()
        found = set()
        for conversation_id, payload in rows:
            try:
                data = json.loads(payload)
            except ValueError:
                continue
            slots = data.get("slots") if isinstance(data.get("slots"), dict) else {}
            if customer in (data.get("customer_id"), slots.get("phone")):
                found.add(conversation_id)
        return found

    def forget(self, sender_ids: set[str], customer: str, dry_run: bool) -> privacy.Counts:
        """Delete the handoffs of these conversations, delivered or not."""
        if not self._ready():
            return self._zero()
        deleted = 0
        with privacy.deleting(self.engine, dry_run) as conn:
            for batch in privacy.in_batches(sorted(sender_ids)):
                deleted += conn.execute(outbox.delete().where(
                    outbox.c.conversation_id.in_(batch))).rowcount
        return {"outbox": deleted}

    def purge(self, before: float, dry_run: bool) -> privacy.Counts:
        """Delete handoffs kept before `before`, delivered or not (one that could not be
        delivered in the retention period is of no use to an agent any more)."""
        if not self._ready():
            return self._zero()
        with privacy.deleting(self.engine, dry_run) as conn:
            return {"outbox": conn.execute(outbox.delete().where(
                outbox.c.created_at < before)).rowcount}


class WeChatState(_Store):
    """The WeChat channel's state: buttons offered to a user, callbacks seen."""

    name = "wechat"
    tables = ("offered_buttons", "seen_callbacks")

    def subjects(self, customer: str) -> set[str]:
        """Nothing here that the tracker does not link already."""
        return set()

    def forget(self, sender_ids: set[str], customer: str, dry_run: bool) -> privacy.Counts:
        """Delete the buttons offered to these users and the events they sent (a message's
        key is its MsgId only, which names nobody, and expires within minutes)."""
        if not self._ready():
            return self._zero()
        counts = self._zero()
        openids = {s.removeprefix(WECHAT_PREFIX) for s in sender_ids}
        with privacy.deleting(self.engine, dry_run) as conn:
            for batch in privacy.in_batches(sorted(sender_ids)):
                counts["offered_buttons"] += conn.execute(offered_buttons.delete().where(
                    offered_buttons.c.user_id.in_(batch))).rowcount
            for openid in sorted(openids):
                pattern = "event:" + privacy.like_containing(openid + ":")[1:]
                counts["seen_callbacks"] += conn.execute(seen_callbacks.delete().where(
                    seen_callbacks.c.key.like(pattern, escape="\\"))).rowcount
        return counts

    def purge(self, before: float, dry_run: bool) -> privacy.Counts:
        """Delete every row that has expired (all of them are younger than any retention
        period until then)."""
        if not self._ready():
            return self._zero()
        now = time.time()
        with privacy.deleting(self.engine, dry_run) as conn:
            return {"offered_buttons": conn.execute(offered_buttons.delete().where(
                        offered_buttons.c.expires_at <= now)).rowcount,
                    "seen_callbacks": conn.execute(seen_callbacks.delete().where(
                        seen_callbacks.c.expires_at <= now)).rowcount}


def stores() -> list[privacy.PersonalData]:
    """The bot's stores of personal data, from the same settings the bot runs with:
    TRACKER_DB_URL or TRACKER_DB, EVENTS_DB_URL or EVENTS_DB (none: a broker such as RabbitMQ
    keeps no history here), HANDOFF_OUTBOX, WECHAT_STATE_DB."""
    return [
        TrackerEvents(_setting("TRACKER_DB_URL", "TRACKER_DB", "var/rasa/tracker.db")),
        StreamEvents(_setting("EVENTS_DB_URL", "EVENTS_DB", None)),
        OutboxData(_setting("HANDOFF_OUTBOX", "HANDOFF_OUTBOX", "var/handoff/outbox.db")),
        WeChatState(_setting("WECHAT_STATE_DB", "WECHAT_STATE_DB", "var/wechat/state.db")),
    ]


main = privacy.service_cli("python -m bot.privacy", stores)

if __name__ == "__main__":
    sys.exit(main())
