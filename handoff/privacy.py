"""Personal data in the handoff service's store: handoffs and their messages (transcripts,
live messages, agents' replies, notices). ``python -m handoff.privacy`` (contracts/privacy.py).

A customer is linked to a handoff by its conversation id, its `customer_id` (what the channel
named: a WeChat sender, or the `customer_id`/`user_id` a client sent) or the phone number the
customer gave the bot (the payload's slots). Retention deletes closed handoffs whose last
change is older than the cutoff, with all their messages; open ones stay until closed.
"""
from __future__ import annotations

import json
import sys
from typing import Any

import sqlalchemy as sa

from contracts import privacy
from contracts.db import make_engine
from handoff.config import Settings
from handoff.store import OPEN, handoffs, messages


class HandoffData:
    """The handoffs and messages tables of one handoff store."""

    name = "handoff"

    def __init__(self, url: str) -> None:
        """A store at a database URL (a missing SQLite file is an empty store)."""
        self.url = url
        self.engine = None if privacy.sqlite_file_missing(url) else make_engine(url)

    def _ready(self) -> bool:
        return self.engine is not None and privacy.existing(
            self.engine, ("handoffs", "messages")) == {"handoffs", "messages"}

    def subjects(self, customer: str) -> set[str]:
        """Conversations whose handoff names this customer or their phone."""
        if not self._ready():
            return set()
        query = sa.select(handoffs.c.conversation_id, handoffs.c.customer_id,
                          handoffs.c.payload).where(sa.or_(
                              handoffs.c.conversation_id == customer,
                              handoffs.c.customer_id == customer,
                              handoffs.c.payload.like(privacy.like_containing(customer),
                                                      escape="\\")))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {row.conversation_id for row in rows
                if customer in (row.conversation_id, row.customer_id)
                or _phone(row.payload) == customer}

    def forget(self, sender_ids: set[str], customer: str, dry_run: bool) -> privacy.Counts:
        """Delete the handoffs of these conversations or this customer, and their messages."""
        counts = {"handoffs": 0, "messages": 0}
        if not self._ready():
            return counts
        with privacy.deleting(self.engine, dry_run) as conn:
            ids = set(conn.execute(sa.select(handoffs.c.id).where(
                handoffs.c.customer_id == customer)).scalars())
            for batch in privacy.in_batches(sorted(sender_ids)):
                ids |= set(conn.execute(sa.select(handoffs.c.id).where(
                    handoffs.c.conversation_id.in_(batch))).scalars())
                counts["messages"] += conn.execute(messages.delete().where(
                    messages.c.conversation_id.in_(batch))).rowcount
            self._delete(conn, ids, counts)
        return counts

    def purge(self, before: float, dry_run: bool) -> privacy.Counts:
        """Delete closed handoffs last changed before `before`, with their messages."""
        counts = {"handoffs": 0, "messages": 0}
        if not self._ready():
            return counts
        last_change = sa.func.coalesce(handoffs.c.closed_at, handoffs.c.created_at)
        with privacy.deleting(self.engine, dry_run) as conn:
            ids = set(conn.execute(sa.select(handoffs.c.id).where(
                handoffs.c.status.not_in(OPEN), last_change < before)).scalars())
            self._delete(conn, ids, counts)
        return counts

    @staticmethod
    def _delete(conn: sa.engine.Connection, ids: set[str], counts: dict[str, int]) -> None:
        for batch in privacy.in_batches(sorted(ids)):
            counts["messages"] += conn.execute(messages.delete().where(
                messages.c.handoff_id.in_(batch))).rowcount
            counts["handoffs"] += conn.execute(handoffs.delete().where(
                handoffs.c.id.in_(batch))).rowcount


def _phone(payload: str | None) -> Any:
    try:
        slots = (json.loads(payload or "{}") or {}).get("slots") or {}
    except (TypeError, ValueError, AttributeError):
        return None
    return slots.get("phone") if isinstance(slots, dict) else None


def stores() -> list[privacy.PersonalData]:
    """The service's stores of personal data, from its settings."""
    return [HandoffData(Settings.from_env().db_url)]


main = privacy.service_cli("python -m handoff.privacy", stores)

if __name__ == "__main__":
    sys.exit(main())
