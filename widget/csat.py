"""Customer satisfaction ratings given in the widget, kept in SQLite."""
from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS csat (
    session_id TEXT NOT NULL,
    episode TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment TEXT NOT NULL DEFAULT '',
    trigger TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (session_id, episode)
);
"""


class CsatStore:
    """One rating per conversation ending (`episode`); rating again replaces it."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.executescript(SCHEMA)

    def save(self, session_id: str, episode: str, rating: int, comment: str,
             trigger: str) -> dict[str, Any]:
        """Insert or replace the rating of one ending of a conversation."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO csat VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (session_id, episode) DO UPDATE SET rating = excluded.rating, "
                "comment = excluded.comment, trigger = excluded.trigger, "
                "updated_at = excluded.updated_at",
                (session_id, episode, rating, comment, trigger, now, now),
            )
        return self.get(session_id, episode) or {}

    def get(self, session_id: str, episode: str) -> dict[str, Any] | None:
        """The rating of one ending, if given."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM csat WHERE session_id = ? AND episode = ?", (session_id, episode)
            ).fetchone()
        return dict(row) if row else None

    def summary(self) -> dict[str, Any]:
        """Number of ratings, their average and the count per star."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rating, COUNT(*) AS n FROM csat GROUP BY rating"
            ).fetchall()
        counts = {str(star): 0 for star in range(1, 6)}
        counts.update({str(row["rating"]): row["n"] for row in rows})
        total = sum(counts.values())
        average = sum(int(s) * n for s, n in counts.items()) / total if total else None
        return {"ratings": total, "average": average, "by_star": counts}

    def close(self) -> None:
        """Close the database."""
        self._db.close()
