"""Personal data in the handoff service's store: handoffs and their messages (transcripts,
live messages, agents' replies, notices), their tags and transfers, and the supervisors'
report summaries (one row per conversation, the messages the bot did not understand, the
labelling queue). ``python -m handoff.privacy`` (contracts/privacy.py).

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
from handoff.store import (
    OPEN,
    handoff_tags,
    handoffs,
    label_queue,
    messages,
    report_conversations,
    report_missed,
    transfers,
)

# Tables keyed by handoff (deleted with it) and the report tables keyed by conversation and
# time; each is touched only when the store has it (stores migrate at their service's start).
BY_HANDOFF = (handoff_tags, transfers)
BY_CONVERSATION = ((report_conversations, report_conversations.c.sender_id,
                    report_conversations.c.last_at),
                   (report_missed, report_missed.c.sender_id, report_missed.c.timestamp),
                   (label_queue, label_queue.c.conversation_id, label_queue.c.timestamp))


class HandoffData:
    """The handoffs and messages tables of one handoff store."""

    name = "handoff"

    def __init__(self, url: str) -> None:
        """A store at a database URL (a missing SQLite file is an empty store)."""
        self.url = url
        self.engine = None if privacy.sqlite_file_missing(url) else make_engine(url)

    def _ready(self) -> bool:
        if self.engine is None or privacy.existing(
                self.engine, ("handoffs", "messages")) != {"handoffs", "messages"}:
            return False
        names = [t.name for t in BY_HANDOFF] + [t.name for t, _, _ in BY_CONVERSATION]
        self._present = privacy.existing(self.engine, names)
        return True

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
        assert self.engine is not None  # _ready() found its tables
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {row.conversation_id for row in rows
                if customer in (row.conversation_id, row.customer_id)
                or _phone(row.payload) == customer}

    def forget(self, sender_ids: set[str], customer: str, dry_run: bool) -> privacy.Counts:
        """Delete the handoffs of these conversations or this customer, and their messages."""
        counts = {"handoffs": 0, "messages": 0, "report_rows": 0}
        if not self._ready():
            return counts
        with privacy.deleting(self.engine, dry_run) as conn:
            ids = set(conn.execute(sa.select(handoffs.c.id).where(
                handoffs.c.customer_id == customer)).scalars())
            conversations = set(sender_ids) | set(conn.execute(
                sa.select(handoffs.c.conversation_id).where(
                    handoffs.c.customer_id == customer)).scalars())
            for batch in privacy.in_batches(sorted(conversations)):
                ids |= set(conn.execute(sa.select(handoffs.c.id).where(
                    handoffs.c.conversation_id.in_(batch))).scalars())
                counts["messages"] += conn.execute(messages.delete().where(
                    messages.c.conversation_id.in_(batch))).rowcount
                for table, conversation, _ in self._report_tables():
                    counts["report_rows"] += conn.execute(table.delete().where(
                        conversation.in_(batch))).rowcount
            self._delete(conn, ids, counts)
        return counts

    def _report_tables(self) -> list[tuple[sa.Table, sa.Column, sa.Column]]:
        return [entry for entry in BY_CONVERSATION if entry[0].name in self._present]

    def purge(self, before: float, dry_run: bool) -> privacy.Counts:
        """Delete closed handoffs last changed before `before`, with their messages."""
        counts = {"handoffs": 0, "messages": 0, "report_rows": 0}
        if not self._ready():
            return counts
        last_change = sa.func.coalesce(handoffs.c.closed_at, handoffs.c.created_at)
        with privacy.deleting(self.engine, dry_run) as conn:
            ids = set(conn.execute(sa.select(handoffs.c.id).where(
                handoffs.c.status.not_in(OPEN), last_change < before)).scalars())
            self._delete(conn, ids, counts)
            for table, _, when in self._report_tables():
                counts["report_rows"] += conn.execute(table.delete().where(
                    when < before)).rowcount
        return counts

    def _delete(self, conn: sa.engine.Connection, ids: set[str], counts: dict[str, int]) -> None:
        for batch in privacy.in_batches(sorted(ids)):
            counts["messages"] += conn.execute(messages.delete().where(
                messages.c.handoff_id.in_(batch))).rowcount
            for table in BY_HANDOFF:
                if table.name in self._present:
                    conn.execute(table.delete().where(table.c.handoff_id.in_(batch)))
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
