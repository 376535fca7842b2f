"""Small durable state of a messaging channel in SQLite: callbacks already seen (so a platform's
retries are processed once, even across a restart) and the buttons last offered to each user (so
a numbered answer can be mapped back to the button's payload). Every row expires."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_callbacks (key TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS offered_buttons (
    user_id TEXT PRIMARY KEY, buttons TEXT NOT NULL, expires_at REAL NOT NULL
);
"""
PURGE_EVERY = 200


class ChannelStore:
    """Thread-safe SQLite store; `clock` is injectable so expiry is testable without sleeping."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL" if self.path != ":memory:" else "SELECT 1")
        self._db.executescript(SCHEMA)
        self._writes = 0

    def claim(self, key: str, ttl: float) -> bool:
        """Record `key` as seen for `ttl` seconds; False if it was already seen and not expired."""
        now = self.clock()
        with self._lock:
            self._maybe_purge(now)
            self._db.execute(
                "DELETE FROM seen_callbacks WHERE key = ? AND expires_at <= ?", (key, now)
            )
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO seen_callbacks (key, expires_at) VALUES (?, ?)",
                (key, now + ttl),
            )
            return cursor.rowcount == 1

    def offer_buttons(self, user_id: str, buttons: list[dict[str, Any]], ttl: float) -> None:
        """Remember the buttons just shown to `user_id` (an empty list forgets them)."""
        with self._lock:
            if not buttons:
                self._db.execute("DELETE FROM offered_buttons WHERE user_id = ?", (user_id,))
                return
            self._db.execute(
                "INSERT OR REPLACE INTO offered_buttons (user_id, buttons, expires_at) "
                "VALUES (?, ?, ?)",
                (user_id, json.dumps(buttons, ensure_ascii=False), self.clock() + ttl),
            )

    def offered_buttons(self, user_id: str) -> list[dict[str, Any]]:
        """The buttons last shown to `user_id`, if they have not expired."""
        with self._lock:
            row = self._db.execute(
                "SELECT buttons FROM offered_buttons WHERE user_id = ? AND expires_at > ?",
                (user_id, self.clock()),
            ).fetchone()
        return json.loads(row[0]) if row else []

    def _maybe_purge(self, now: float) -> None:
        self._writes += 1
        if self._writes % PURGE_EVERY == 0:
            self._db.execute("DELETE FROM seen_callbacks WHERE expires_at <= ?", (now,))
            self._db.execute("DELETE FROM offered_buttons WHERE expires_at <= ?", (now,))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
