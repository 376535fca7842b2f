"""Small durable state of a messaging channel: callbacks already seen (so a platform's retries
are processed once, even across a restart) and the buttons last offered to each user (so a
numbered answer can be mapped back to the button's payload). Every row expires.

SQLite by default (WECHAT_STATE_DB), PostgreSQL with a URL; SQLAlchemy Core, the schema
migrated at start (migrations/wechat/)."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from contracts import db

SERVICE = "wechat"
PURGE_EVERY = 200
metadata = sa.MetaData()
seen_callbacks = sa.Table(
    "seen_callbacks", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("expires_at", sa.Float, nullable=False),
)
offered_buttons = sa.Table(
    "offered_buttons", metadata,
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("buttons", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)


class ChannelStore:
    """Thread-safe store; `clock` is injectable so expiry is testable without sleeping."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        """Open the store (a SQLite path, ":memory:" or a database URL), migrate its schema."""
        self.path = str(path)
        self.clock = clock
        self._lock = threading.Lock()
        self.engine = db.make_engine(self.path, wal=True)
        db.migrate(self.engine, SERVICE, metadata)
        self._writes = 0

    def claim(self, key: str, ttl: float) -> bool:
        """Record `key` as seen for `ttl` seconds; False if it was already seen and not expired."""
        now = self.clock()
        with self._lock, self.engine.begin() as conn:
            self._maybe_purge(conn, now)
            conn.execute(seen_callbacks.delete().where(seen_callbacks.c.key == key,
                                                       seen_callbacks.c.expires_at <= now))
            inserted = conn.execute(sa.text(
                "INSERT INTO seen_callbacks (key, expires_at) VALUES (:key, :expires_at) "
                "ON CONFLICT (key) DO NOTHING"), {"key": key, "expires_at": now + ttl})
            return inserted.rowcount == 1

    def offer_buttons(self, user_id: str, buttons: list[dict[str, Any]], ttl: float) -> None:
        """Remember the buttons just shown to `user_id` (an empty list forgets them)."""
        with self._lock, self.engine.begin() as conn:
            if not buttons:
                conn.execute(offered_buttons.delete().where(offered_buttons.c.user_id == user_id))
                return
            conn.execute(sa.text(
                "INSERT INTO offered_buttons (user_id, buttons, expires_at) "
                "VALUES (:user_id, :buttons, :expires_at) ON CONFLICT (user_id) DO UPDATE "
                "SET buttons = excluded.buttons, expires_at = excluded.expires_at"),
                {"user_id": user_id, "buttons": json.dumps(buttons, ensure_ascii=False),
                 "expires_at": self.clock() + ttl})

    def offered_buttons(self, user_id: str) -> list[dict[str, Any]]:
        """The buttons last shown to `user_id`, if they have not expired."""
        with self._lock, self.engine.connect() as conn:
            value = conn.execute(sa.select(offered_buttons.c.buttons).where(
                offered_buttons.c.user_id == user_id,
                offered_buttons.c.expires_at > self.clock())).scalar()
        return json.loads(value) if value else []

    def _maybe_purge(self, conn: sa.engine.Connection, now: float) -> None:
        self._writes += 1
        if self._writes % PURGE_EVERY == 0:
            conn.execute(seen_callbacks.delete().where(seen_callbacks.c.expires_at <= now))
            conn.execute(offered_buttons.delete().where(offered_buttons.c.expires_at <= now))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self.engine.dispose()
