"""The action server's outbox: handoffs the handoff service has not taken yet.

SQLite by default (HANDOFF_OUTBOX, a file path), PostgreSQL with a URL; SQLAlchemy Core, the
schema migrated on first use (migrations/outbox/). bot/core/handoff.py fills it and its
background worker delivers it.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.clients.handoff import (
    HandoffClient,
    HandoffMisconfigured,
    HandoffRejected,
    HandoffUnavailable,
)
from contracts import db

logger = logging.getLogger(__name__)
SERVICE = "outbox"
# Delivered outbox rows are deleted after this many days (HANDOFF_OUTBOX_KEEP_DAYS).
DEFAULT_KEEP_DAYS = 7.0
metadata = sa.MetaData()
outbox = sa.Table(
    "outbox", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("conversation_id", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", sa.Float),
    sa.Column("dead_at", sa.Float),
)
_engines_guard = threading.Lock()
_engines: dict[str, Engine] = {}
_flush_locks: dict[str, threading.Lock] = {}


def _engine_of(url: str) -> Engine:
    """One engine per outbox database, migrated when first opened in this process."""
    with _engines_guard:
        if url not in _engines:
            engine = db.make_engine(url, wal=True)
            db.migrate(engine, SERVICE, metadata)
            _engines[url] = engine
        return _engines[url]


def _flush_lock(url: str) -> threading.Lock:
    """One flush at a time per outbox database."""
    with _engines_guard:
        return _flush_locks.setdefault(url, threading.Lock())


class Outbox:
    """Handoffs the service has not taken yet, in a database that survives restarts.

    Only the background worker delivers them (`flush`), oldest first, with their idempotency
    key; the service's deduplication makes a delivery that timed out harmless to repeat.
    A payload the service refuses for good (4xx other than 401/403/408/429) is dead-lettered
    with the reason and the next entry goes on; see `flush` for the other failures."""

    def __init__(self, path: str | Path) -> None:
        """Use the SQLite file at `path` (created on first write) or a database URL."""
        self.url = db.database_url(path)
        self.path = None if "://" in str(path) else Path(path)

    @property
    def engine(self) -> Engine:
        """The outbox database (opened and migrated on first use, and again when its SQLite
        file was removed meanwhile)."""
        if self.path is not None and not self.path.exists():
            with _engines_guard:
                stale = _engines.pop(self.url, None)
            if stale is not None:
                stale.dispose()
        return _engine_of(self.url)

    def _absent(self) -> bool:
        """Nothing was ever kept: a SQLite file not created yet (reads need not create it)."""
        return self.path is not None and not self.path.exists()

    def add(self, key: str, payload: dict[str, Any]) -> bool:
        """Keep a handoff for later delivery; False when the key is already kept."""
        with self.engine.begin() as conn:
            inserted = conn.execute(sa.text(
                "INSERT INTO outbox (key, conversation_id, payload, created_at) "
                "VALUES (:key, :conversation_id, :payload, :created_at) "
                "ON CONFLICT (key) DO NOTHING"),
                {"key": key, "conversation_id": payload["conversation_id"],
                 "payload": json.dumps(payload, ensure_ascii=False), "created_at": time.time()})
            return inserted.rowcount == 1

    def pending(self, conversation_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Undelivered handoffs, oldest first (of one conversation if given)."""
        if self._absent():
            return []
        query = sa.select(outbox.c.key, outbox.c.payload).where(
            outbox.c.delivered_at.is_(None), outbox.c.dead_at.is_(None))
        if conversation_id is not None:
            query = query.where(outbox.c.conversation_id == conversation_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(outbox.c.created_at, outbox.c.key)).all()
        return [(key, json.loads(payload)) for key, payload in rows]

    def dead_letters(self) -> list[dict[str, Any]]:
        """Handoffs the service refused for good, with the reason, oldest first."""
        if self._absent():
            return []
        query = (sa.select(outbox.c.key, outbox.c.conversation_id, outbox.c.last_error,
                           outbox.c.dead_at)
                 .where(outbox.c.dead_at.is_not(None)).order_by(outbox.c.dead_at))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{"key": k, "conversation_id": c, "error": e, "dead_at": d}
                for k, c, e, d in rows]

    def mark(self, key: str, error: str | None = None) -> None:
        """Record a delivery (no error) or a failed attempt."""
        values: dict[str, Any] = {"attempts": outbox.c.attempts + 1}
        if error is None:
            values.update(delivered_at=time.time(), last_error=None)
        else:
            values["last_error"] = error[:500]
        with self.engine.begin() as conn:
            conn.execute(outbox.update().where(outbox.c.key == key).values(**values))

    def mark_dead(self, key: str, reason: str) -> None:
        """Give up on a handoff the service refused for good, keeping the reason."""
        with self.engine.begin() as conn:
            conn.execute(outbox.update().where(outbox.c.key == key).values(
                dead_at=time.time(), attempts=outbox.c.attempts + 1, last_error=reason[:500]))

    def purge(self, keep_days: float = DEFAULT_KEEP_DAYS) -> int:
        """Delete delivered handoffs older than `keep_days`; returns how many. Pending and
        dead-lettered ones stay."""
        if self._absent():
            return 0
        with self.engine.begin() as conn:
            return conn.execute(outbox.delete().where(
                outbox.c.delivered_at.is_not(None),
                outbox.c.delivered_at < time.time() - keep_days * 86400)).rowcount

    def flush(self, client: HandoffClient) -> int:
        """Deliver what is pending, oldest first; returns how many went.

        - refused for good (HandoffRejected): dead-lettered, an error logged, next entry;
        - 401/403 or the development token in production (HandoffMisconfigured): an error
          logged, the entry kept, and this round ends: every entry travels with the same
          credentials, so the others would be refused too. Each round tries again, so once
          the configuration is fixed they all go, in order;
        - service down, timeout, 5xx, 408/429 (HandoffUnavailable): kept, the round ends.
        """
        with _flush_lock(self.url):
            delivered = 0
            for key, payload in self.pending():
                try:
                    client.create(payload, key)
                except HandoffRejected as error:
                    self.mark_dead(key, str(error))
                    logger.error("handoff %s refused by the service for good, dead-lettered "
                                 "in %s: %s", key, self.path or "the outbox", error)
                    continue
                except HandoffMisconfigured as error:
                    self.mark(key, str(error))
                    logger.error("handoff %s undelivered: configuration error: %s", key, error)
                    break
                except HandoffUnavailable as error:
                    self.mark(key, str(error))
                    logger.warning("handoff %s still undelivered: %s", key, error)
                    break
                self.mark(key)
                delivered += 1
                logger.info("handoff %s delivered from the outbox", key)
            return delivered
