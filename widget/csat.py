"""Customer satisfaction ratings given in the widget: SQLite by default, PostgreSQL with a
URL (WIDGET_DB), SQLAlchemy Core; the schema is migrated at start (migrations/widget/)."""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from contracts import db

SERVICE = "widget"
metadata = sa.MetaData()
csat = sa.Table(
    "csat", metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("episode", sa.Text, primary_key=True),
    sa.Column("rating", sa.Integer, sa.CheckConstraint("rating BETWEEN 1 AND 5"),
              nullable=False),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
)


class CsatStore:
    """One rating per conversation ending (`episode`); rating again replaces it."""

    def __init__(self, path: str | Path) -> None:
        """Open the store (a SQLite path or a database URL) and migrate its schema."""
        self.engine = db.make_engine(path)
        self._lock = threading.Lock()
        db.migrate(self.engine, SERVICE, metadata)

    def save(self, session_id: str, episode: str, rating: int, comment: str,
             trigger: str) -> dict[str, Any]:
        """Insert or replace the rating of one ending of a conversation."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._lock, self.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO csat (session_id, episode, rating, comment, trigger, created_at, "
                "updated_at) VALUES (:session_id, :episode, :rating, :comment, :trigger, :now, "
                ":now) ON CONFLICT (session_id, episode) DO UPDATE SET rating = excluded.rating,"
                " comment = excluded.comment, trigger = excluded.trigger, "
                "updated_at = excluded.updated_at"),
                {"session_id": session_id, "episode": episode, "rating": rating,
                 "comment": comment, "trigger": trigger, "now": now})
        return self.get(session_id, episode) or {}

    def get(self, session_id: str, episode: str) -> dict[str, Any] | None:
        """The rating of one ending, if given."""
        with self._lock, self.engine.connect() as conn:
            row = conn.execute(sa.select(csat).where(
                csat.c.session_id == session_id, csat.c.episode == episode)).first()
        return dict(row._mapping) if row else None

    def summary(self) -> dict[str, Any]:
        """Number of ratings, their average and the count per star."""
        with self._lock, self.engine.connect() as conn:
            rows = conn.execute(sa.select(csat.c.rating, sa.func.count().label("n"))
                                .group_by(csat.c.rating)).all()
        counts = {str(star): 0 for star in range(1, 6)}
        counts.update({str(row.rating): row.n for row in rows})
        total = sum(counts.values())
        average = sum(int(s) * n for s, n in counts.items()) / total if total else None
        return {"ratings": total, "average": average, "by_star": counts}

    def close(self) -> None:
        """Close the database."""
        self.engine.dispose()
