"""The handoff service's own store: SQLite by default, PostgreSQL with a postgresql:// URL.

SQLAlchemy 1.4 Core, one module: agents and their sessions, handoffs with their state
changes, and every message of a handed-off conversation (the transcript the bot sent, the
customer's live messages, the agents' replies and the notices the customer saw).
"""
from __future__ import annotations

import json
import logging
import math
import secrets
import time
from dataclasses import dataclass
from statistics import median
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from contracts import db

logger = logging.getLogger(__name__)
# The Alembic environment of this store: migrations/handoff/.
SERVICE = "handoff"
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2}
OPEN = ("queued", "claimed")
STATUSES = ("queued", "claimed", "resolved", "handed_back", "cancelled", "abandoned")
# The state machine, in one place: action -> (allowed from, to).
TRANSITIONS = {
    "claim": ({"queued"}, "claimed"),
    "resolve": ({"claimed"}, "resolved"),
    "handback": ({"queued", "claimed"}, "handed_back"),
    "cancel": ({"queued"}, "cancelled"),
    # Nobody took it and the customer has been silent for hours (HandoffService.sweep).
    "abandon": ({"queued"}, "abandoned"),
    # Back to the queue for a group (售前/售后), or straight to another agent.
    "transfer_group": ({"queued", "claimed"}, "queued"),
    "transfer_agent": ({"claimed"}, "claimed"),
}

metadata = sa.MetaData()

agents = sa.Table(
    "agents", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(64), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float),
    # agent | supervisor (supervisors also see the reports and the team's view).
    sa.Column("role", sa.String(16), nullable=False, server_default="agent"),
)
ROLES = ("agent", "supervisor")
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)
handoffs = sa.Table(
    "handoffs", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
    sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
    sa.Column("channel", sa.String(64)),
    sa.Column("customer_id", sa.String(255)),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("priority_rank", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("topic", sa.String(64)),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("bot_paused", sa.Boolean, nullable=False),
    sa.Column("requested_at", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("claimed_at", sa.Float),
    sa.Column("closed_at", sa.Float),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id")),
)
# At most one open handoff per conversation, enforced by the database (a partial unique
# index, SQLite >= 3.8 and PostgreSQL): two requests racing through the check in
# create_handoff cannot both insert.
one_open_per_conversation = sa.Index(
    "uq_handoffs_open_conversation", handoffs.c.conversation_id, unique=True,
    sqlite_where=handoffs.c.status.in_(OPEN), postgresql_where=handoffs.c.status.in_(OPEN))
messages = sa.Table(
    "messages", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("handoff_id", sa.String(32), sa.ForeignKey("handoffs.id"), nullable=False,
              index=True),
    sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
    # customer | bot | agent
    sa.Column("sender", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    # transcript (sent by the bot) | live (from the event stream) | agent | notice
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("meta", sa.Text, nullable=False, default="{}"),
    # Sent to the customer's channel (agent messages and notices): what REST clients poll.
    sa.Column("to_customer", sa.Boolean, nullable=False, default=False),
    # For live messages: the broker event they came from, so a replay adds nothing twice.
    sa.Column("event_key", sa.String(128), unique=True),
)
state = sa.Table(
    "state", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# --- agent workbench (issue 23) -----------------------------------------------------------
# New tables only, no new column on an existing table: `create_all` adds them to an existing
# store, so the current upgrade path keeps working until the migrations (Alembic) take over.
# Internal notes need no table: they are `messages` rows with source "note", never sent.
canned_replies = sa.Table(
    "canned_replies", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("title", sa.String(32), nullable=False),
    # May hold placeholders such as {客户称呼} and {订单号}, filled in the console.
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("agents.id")),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
handoff_tags = sa.Table(
    "handoff_tags", metadata,
    sa.Column("handoff_id", sa.String(32), sa.ForeignKey("handoffs.id"), primary_key=True),
    sa.Column("tag", sa.String(16), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
)
# Every transfer of a handoff; the newest row's `to_group` is the group it waits for.
transfers = sa.Table(
    "transfers", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("handoff_id", sa.String(32), sa.ForeignKey("handoffs.id"), nullable=False,
              index=True),
    sa.Column("from_agent_id", sa.Integer, sa.ForeignKey("agents.id")),
    sa.Column("to_agent_id", sa.Integer, sa.ForeignKey("agents.id")),
    sa.Column("to_group", sa.String(16)),
    sa.Column("created_at", sa.Float, nullable=False),
)
GROUPS = {"presales": "售前", "aftersales": "售后"}
# Offered on a new store (and never again once an agent changed them).
DEFAULT_CANNED = [
    ("问候", "{客户称呼}您好，我是客服{客服}，很高兴为您服务，请问有什么可以帮您？"),
    ("查看订单", "{客户称呼}您好，我正在查看订单 {订单号} 的情况，请稍等一两分钟。"),
    ("道歉", "非常抱歉给您带来不便，{客户称呼}，这件事我会负责跟进到底。"),
    ("请发照片", "麻烦您拍一张商品破损处和外包装的照片发给我，我马上为您登记售后。"),
    ("结束", "{客户称呼}，还有其他需要帮忙的吗？没有的话祝您生活愉快！"),
]
# --- end of agent workbench tables ---------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """The console's search and filters; empty fields do not filter."""

    priority: str | None = None
    reason: str | None = None
    channel: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None
    tag: str | None = None
    group: str | None = None

    def clauses(self) -> list[Any]:
        """The WHERE clauses on `handoffs`."""
        found: list[Any] = []
        for column, value in ((handoffs.c.priority, self.priority),
                              (handoffs.c.reason, self.reason),
                              (handoffs.c.channel, self.channel)):
            if value:
                found.append(column == value)
        if self.since is not None:
            found.append(handoffs.c.created_at >= self.since)
        if self.until is not None:
            found.append(handoffs.c.created_at < self.until)
        if self.text:
            found.append(self._text_clause(self.text))
        if self.tag:
            found.append(handoffs.c.id.in_(sa.select(handoff_tags.c.handoff_id)
                                           .where(handoff_tags.c.tag == self.tag)))
        if self.group:
            later = transfers.alias("later")
            newest = sa.select(transfers.c.handoff_id).where(
                transfers.c.to_group == self.group,
                ~sa.exists().where(later.c.handoff_id == transfers.c.handoff_id,
                                   later.c.id > transfers.c.id))
            found.append(handoffs.c.id.in_(newest))
        return found

    @staticmethod
    def _text_clause(text: str) -> Any:
        """Summary, conversation or customer id, or any message of the handoff contains it
        (LIKE wildcards in the text are matched literally)."""
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        in_messages = sa.select(messages.c.handoff_id).where(
            messages.c.text.like(pattern, escape="\\"))
        return sa.or_(handoffs.c.summary.like(pattern, escape="\\"),
                      handoffs.c.conversation_id.like(pattern, escape="\\"),
                      handoffs.c.customer_id.like(pattern, escape="\\"),
                      handoffs.c.id.in_(in_messages))


# The supervisors' reports (handoff/reports.py): a summary of the tracker store, rebuildable
# from it, one row per conversation and one per message the bot did not understand.
report_conversations = sa.Table(
    "report_conversations", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("started_at", sa.Float, nullable=False, index=True),
    sa.Column("last_at", sa.Float, nullable=False),
    sa.Column("channel", sa.String(64)),
    # The first topic that is not a greeting, 转人工 or out of scope (else the first seen).
    sa.Column("topic", sa.String(64)),
    sa.Column("user_messages", sa.Integer, nullable=False),
    sa.Column("missed_messages", sa.Integer, nullable=False),
    # calm | upset | angry: the worst emotion of the customer's messages
    sa.Column("emotion", sa.String(16), nullable=False),
    sa.Column("emotion_topic", sa.String(64)),
)
report_missed = sa.Table(
    "report_missed", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender_id", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("intent", sa.String(128)),
    sa.Column("confidence", sa.Float),
    # nlu_fallback | out_of_scope | low_confidence
    sa.Column("reason", sa.String(32), nullable=False),
)
# The labelling queue: not-understood messages a supervisor sent there from a group; its TSV
# has the columns of `make export-traffic` (evaluation/export_traffic.py).
label_queue = sa.Table(
    "label_queue", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("text_key", sa.String(255), nullable=False, unique=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("conversation_id", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("predicted_intent", sa.String(128)),
    sa.Column("confidence", sa.Float),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("group_key", sa.String(16), nullable=False, index=True),
    sa.Column("suggested_topic", sa.String(64), nullable=False, server_default=""),
    sa.Column("label", sa.String(128), nullable=False, server_default=""),
    sa.Column("added_at", sa.Float, nullable=False),
    sa.Column("added_by", sa.String(64), nullable=False),
)

class ConflictError(Exception):
    """The handoff is not in a state that allows the action (e.g. claimed by another agent)."""


class NotFoundError(Exception):
    """No such handoff."""


@dataclass(frozen=True)
class Created:
    """The result of creating a handoff: the row, and whether it already existed."""

    handoff: dict[str, Any]
    created: bool


def make_engine(url: str) -> Engine:
    """An engine for the URL (SQLite files get their folder and a busy timeout)."""
    return db.make_engine(url)


class Store:
    """All reads and writes of the service."""

    def __init__(self, url: str) -> None:
        """Connect and bring the schema to the newest revision (migrations/handoff/)."""
        self.engine = make_engine(url)
        db.migrate(self.engine, SERVICE, metadata)
        self.seed_canned()

    # --- agents and sessions -------------------------------------------------------------

    def add_agent(self, username: str, display_name: str, password_hash: str,
                  role: str = "agent") -> int:
        """Create an agent account; raises ConflictError when the username is taken."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        try:
            with self.engine.begin() as db:
                result = db.execute(agents.insert().values(
                    username=username, display_name=display_name,
                    password_hash=password_hash, created_at=time.time(), role=role))
                return int(result.inserted_primary_key[0])
        except IntegrityError as error:
            raise ConflictError(f"agent {username!r} exists") from error

    def set_password(self, username: str, password_hash: str) -> bool:
        """Replace an agent's password; False when there is no such agent."""
        with self.engine.begin() as db:
            result = db.execute(agents.update().where(agents.c.username == username)
                                .values(password_hash=password_hash))
            return result.rowcount > 0

    def agent_by_username(self, username: str) -> dict[str, Any] | None:
        """The agent row, or None."""
        with self.engine.connect() as db:
            row = db.execute(agents.select().where(agents.c.username == username)).first()
        return dict(row._mapping) if row else None

    def add_session(self, token_hash: str, agent_id: int, hours: float) -> None:
        """Store a login session (only the token's hash is kept)."""
        now = time.time()
        with self.engine.begin() as db:
            db.execute(sessions.delete().where(sessions.c.expires_at < now))
            db.execute(sessions.insert().values(token_hash=token_hash, agent_id=agent_id,
                                                created_at=now, expires_at=now + hours * 3600))

    def agent_for_session(self, token_hash: str) -> dict[str, Any] | None:
        """The agent of a live session, marked as seen now; None when unknown or expired."""
        now = time.time()
        query = (sa.select(agents).join(sessions, sessions.c.agent_id == agents.c.id)
                 .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now))
        with self.engine.begin() as db:
            row = db.execute(query).first()
            if not row:
                return None
            db.execute(agents.update().where(agents.c.id == row.id).values(last_seen_at=now))
        return dict(row._mapping)

    def end_session(self, token_hash: str) -> None:
        """Log out: forget the session and stop counting the agent as online."""
        with self.engine.begin() as db:
            row = db.execute(sa.select(sessions.c.agent_id)
                             .where(sessions.c.token_hash == token_hash)).first()
            db.execute(sessions.delete().where(sessions.c.token_hash == token_hash))
            if row:
                db.execute(agents.update().where(agents.c.id == row.agent_id)
                           .values(last_seen_at=None))

    def agents_online(self, within_seconds: float) -> int:
        """How many agents used the console recently."""
        since = time.time() - within_seconds
        with self.engine.connect() as db:
            return int(db.execute(sa.select(sa.func.count()).select_from(agents)
                                  .where(agents.c.last_seen_at >= since)).scalar_one())

    # --- handoffs ------------------------------------------------------------------------

    def create_handoff(self, key: str, fields: dict[str, Any],
                       transcript: list[dict[str, Any]]) -> Created:
        """Create a handoff with its transcript, once per idempotency key.

        A replay of the same key returns the existing handoff. A conversation has at most one
        open handoff: a new request while one is open returns that one.
        """
        existing = self._by_key(key) or self._open_for(fields["conversation_id"])
        if existing:
            return Created(existing, False)
        handoff_id = "h" + secrets.token_hex(6)
        now = time.time()
        row = {**fields, "id": handoff_id, "idempotency_key": key, "status": "queued",
               "priority_rank": PRIORITY_RANK[fields["priority"]], "created_at": now}
        try:
            with self.engine.begin() as db:
                db.execute(handoffs.insert().values(**row))
                if transcript:
                    db.execute(messages.insert(), [
                        {"handoff_id": handoff_id, "conversation_id": fields["conversation_id"],
                         "source": "transcript", "to_customer": False, **entry}
                        for entry in transcript])
        except IntegrityError:
            # The same key, or another open handoff of the conversation, was created
            # concurrently: that one wins.
            found = self._by_key(key) or self._open_for(fields["conversation_id"])
            if found:
                return Created(found, False)
            raise
        return Created(self.handoff(handoff_id), True)

    def _by_key(self, key: str) -> dict[str, Any] | None:
        with self.engine.connect() as db:
            row = db.execute(handoffs.select().where(handoffs.c.idempotency_key == key)).first()
        return _row(row)

    def _open_for(self, conversation_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as db:
            row = db.execute(handoffs.select().where(
                handoffs.c.conversation_id == conversation_id,
                handoffs.c.status.in_(OPEN)).order_by(handoffs.c.created_at.desc())).first()
        return _row(row)

    def open_handoff_for(self, conversation_id: str) -> dict[str, Any] | None:
        """The conversation's open (queued or claimed) handoff, if any."""
        return self._open_for(conversation_id)

    def handoff(self, handoff_id: str) -> dict[str, Any]:
        """One handoff with its agent's display name; raises NotFoundError."""
        query = (sa.select(handoffs, agents.c.display_name.label("agent_name"),
                           agents.c.username.label("agent_username"))
                 .select_from(handoffs.outerjoin(agents, agents.c.id == handoffs.c.agent_id))
                 .where(handoffs.c.id == handoff_id))
        with self.engine.connect() as db:
            row = db.execute(query).first()
        if not row:
            raise NotFoundError(handoff_id)
        return _row(row) or {}

    def list_handoffs(self, statuses: tuple[str, ...], limit: int = 200,
                      where: QueueFilter | None = None) -> list[dict[str, Any]]:
        """Handoffs in the given states (and matching `where`): by priority, then the longest
        waiting first."""
        query = (sa.select(handoffs, agents.c.display_name.label("agent_name"),
                           agents.c.username.label("agent_username"))
                 .select_from(handoffs.outerjoin(agents, agents.c.id == handoffs.c.agent_id))
                 .where(handoffs.c.status.in_(statuses), *(where or QueueFilter()).clauses())
                 .order_by(handoffs.c.priority_rank, handoffs.c.created_at).limit(limit))
        with self.engine.connect() as db:
            return [_row(row) or {} for row in db.execute(query)]

    def queued_count(self) -> int:
        """How many handoffs wait for an agent (all of them, whatever a console filters)."""
        with self.engine.connect() as db:
            return int(db.execute(sa.select(sa.func.count()).select_from(handoffs)
                                  .where(handoffs.c.status == "queued")).scalar_one())

    def queue_position(self, handoff: dict[str, Any]) -> int | None:
        """1-based place in the queue (priority first, then waiting time); None unless queued."""
        if handoff["status"] != "queued":
            return None
        ahead = sa.or_(
            handoffs.c.priority_rank < handoff["priority_rank"],
            sa.and_(handoffs.c.priority_rank == handoff["priority_rank"],
                    handoffs.c.created_at < handoff["created_at"]))
        with self.engine.connect() as db:
            count = db.execute(sa.select(sa.func.count()).select_from(handoffs).where(
                handoffs.c.status == "queued", ahead)).scalar_one()
        return int(count) + 1

    def expected_wait(self, position: int | None, agents_online: int,
                      default_minutes: float) -> int | None:
        """Minutes until an agent takes the handoff: place in the queue times the median
        handling time of the last 50 closed handoffs, shared among the agents online."""
        if position is None:
            return None
        with self.engine.connect() as db:
            rows = db.execute(sa.select(handoffs.c.claimed_at, handoffs.c.closed_at).where(
                handoffs.c.claimed_at.is_not(None), handoffs.c.closed_at.is_not(None))
                .order_by(handoffs.c.closed_at.desc()).limit(50)).all()
        durations = [(r.closed_at - r.claimed_at) / 60 for r in rows if r.closed_at > r.claimed_at]
        handle = median(durations) if len(durations) >= 5 else default_minutes
        return max(1, math.ceil(position * handle / max(1, agents_online)))

    def transition(self, handoff_id: str, action: str, agent_id: int | None = None) -> dict:
        """Apply a state change; raises ConflictError when the current state does not allow it,
        or when another agent holds the handoff."""
        allowed, target = TRANSITIONS[action]
        now = time.time()
        values: dict[str, Any] = {"status": target}
        if action == "claim":
            values.update(claimed_at=now, agent_id=agent_id)
        else:
            values["closed_at"] = now
        condition = [handoffs.c.id == handoff_id, handoffs.c.status.in_(allowed)]
        if action in ("resolve", "handback") and agent_id is not None:
            # Only the agent holding a claimed handoff closes it (a queued one: any agent).
            condition.append(sa.or_(handoffs.c.agent_id.is_(None),
                                    handoffs.c.agent_id == agent_id))
        with self.engine.begin() as db:
            changed = db.execute(handoffs.update().where(*condition).values(**values)).rowcount
        current = self.handoff(handoff_id)
        if not changed:
            raise ConflictError(_conflict_message(current, action))
        return current

    def revert(self, handoff_id: str, previous: dict[str, Any]) -> None:
        """Undo a state change whose notice could not reach the customer (left as it is when
        the conversation opened another handoff meanwhile: one open handoff each)."""
        try:
            with self.engine.begin() as db:
                db.execute(handoffs.update().where(handoffs.c.id == handoff_id).values(
                    status=previous["status"], claimed_at=previous["claimed_at"],
                    closed_at=previous["closed_at"], agent_id=previous["agent_id"]))
        except IntegrityError:
            logger.warning("handoff %s not reopened: its conversation has another open one",
                           handoff_id)

    # --- messages ------------------------------------------------------------------------

    def add_message(self, handoff: dict[str, Any], sender: str, text: str, source: str,
                    meta: dict[str, Any] | None = None, to_customer: bool = False,
                    timestamp: float | None = None, event_key: str | None = None) -> int | None:
        """Append a message to a handoff; None when `event_key` was already recorded."""
        row = {"handoff_id": handoff["id"], "conversation_id": handoff["conversation_id"],
               "sender": sender, "text": text, "source": source, "to_customer": to_customer,
               "meta": json.dumps(meta or {}, ensure_ascii=False),
               "timestamp": timestamp or time.time(), "event_key": event_key}
        try:
            with self.engine.begin() as db:
                return int(db.execute(messages.insert().values(**row)).inserted_primary_key[0])
        except IntegrityError:
            if event_key:
                return None
            raise

    def messages(self, handoff_id: str, after: int = 0) -> list[dict[str, Any]]:
        """The handoff's messages in order (transcript first), those after id `after`."""
        query = (messages.select().where(messages.c.handoff_id == handoff_id,
                                         messages.c.id > after)
                 .order_by(messages.c.id))
        with self.engine.connect() as db:
            return [_message(row) for row in db.execute(query)]

    def notices_of(self, handoff_id: str) -> list[dict[str, Any]]:
        """The notices the customer of a handoff got, oldest first (meta["notice"] names
        each: "queued", "queued_off_hours", "message_received" ...)."""
        query = (messages.select().where(messages.c.handoff_id == handoff_id,
                                         messages.c.source == "notice")
                 .order_by(messages.c.id))
        with self.engine.connect() as db:
            return [_message(row) for row in db.execute(query)]

    def last_turn(self, handoff_id: str) -> dict[str, Any] | None:
        """The newest customer, bot or agent message of a handoff that is not a notice."""
        query = (messages.select().where(messages.c.handoff_id == handoff_id,
                                         messages.c.source.not_in(("notice", "note")))
                 .order_by(messages.c.id.desc()).limit(1))
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return _message(row) if row else None

    def silent_since(self, before: float) -> list[dict[str, Any]]:
        """Queued handoffs whose customer wrote nothing since `before` (epoch seconds):
        neither the request nor any message while waiting is newer."""
        latest = (sa.select(messages.c.handoff_id,
                            sa.func.max(messages.c.timestamp).label("last_message"))
                  .where(messages.c.sender == "customer", messages.c.source == "live")
                  .group_by(messages.c.handoff_id).subquery())
        query = (sa.select(handoffs.c.id)
                 .select_from(handoffs.outerjoin(latest, latest.c.handoff_id == handoffs.c.id))
                 .where(handoffs.c.status == "queued", handoffs.c.created_at < before,
                        handoffs.c.requested_at < before,
                        sa.or_(latest.c.last_message.is_(None),
                               latest.c.last_message < before))
                 .order_by(handoffs.c.created_at))
        with self.engine.connect() as db:
            ids = [row.id for row in db.execute(query)]
        return [self.handoff(handoff_id) for handoff_id in ids]

    def customer_messages(self, conversation_id: str, after: int = 0,
                          limit: int = 100) -> list[dict[str, Any]]:
        """What agents and the service sent to a conversation's customer, after id `after`."""
        query = (messages.select().where(messages.c.conversation_id == conversation_id,
                                         messages.c.to_customer.is_(True),
                                         messages.c.id > after)
                 .order_by(messages.c.id).limit(limit))
        with self.engine.connect() as db:
            return [_message(row) for row in db.execute(query)]

    # --- agent workbench: canned replies, tags, transfers (issue 23) ---------------------

    def seed_canned(self) -> None:
        """Offer the default canned replies on a new store (once: deleting them all sticks)."""
        if self.get_state("canned_seeded"):
            return
        now = time.time()
        with self.engine.begin() as db:
            if not db.execute(sa.select(sa.func.count()).select_from(canned_replies)).scalar():
                db.execute(canned_replies.insert(), [
                    {"title": title, "text": text, "created_at": now, "updated_at": now}
                    for title, text in DEFAULT_CANNED])
        self.set_state("canned_seeded", "1")

    def canned(self) -> list[dict[str, Any]]:
        """Every canned reply, oldest first."""
        with self.engine.connect() as db:
            rows = db.execute(canned_replies.select().order_by(canned_replies.c.id))
            return [dict(row._mapping) for row in rows]

    def add_canned(self, title: str, text: str, agent_id: int) -> dict[str, Any]:
        """Store a canned reply."""
        now = time.time()
        with self.engine.begin() as db:
            new_id = db.execute(canned_replies.insert().values(
                title=title, text=text, created_by=agent_id, created_at=now,
                updated_at=now)).inserted_primary_key[0]
        return self._canned(int(new_id))

    def update_canned(self, reply_id: int, title: str, text: str) -> dict[str, Any]:
        """Change a canned reply; raises NotFoundError."""
        with self.engine.begin() as db:
            changed = db.execute(canned_replies.update().where(canned_replies.c.id == reply_id)
                                 .values(title=title, text=text, updated_at=time.time()))
        if not changed.rowcount:
            raise NotFoundError(f"canned reply {reply_id}")
        return self._canned(reply_id)

    def delete_canned(self, reply_id: int) -> None:
        """Delete a canned reply; raises NotFoundError."""
        with self.engine.begin() as db:
            gone = db.execute(canned_replies.delete().where(canned_replies.c.id == reply_id))
        if not gone.rowcount:
            raise NotFoundError(f"canned reply {reply_id}")

    def _canned(self, reply_id: int) -> dict[str, Any]:
        with self.engine.connect() as db:
            row = db.execute(canned_replies.select()
                             .where(canned_replies.c.id == reply_id)).first()
        if row is None:
            raise NotFoundError(f"canned reply {reply_id}")
        return dict(row._mapping)

    def set_tags(self, handoff_id: str, tags: list[str]) -> list[str]:
        """Replace a handoff's tags; returns them sorted."""
        self.handoff(handoff_id)  # NotFoundError
        now = time.time()
        with self.engine.begin() as db:
            db.execute(handoff_tags.delete().where(handoff_tags.c.handoff_id == handoff_id))
            if tags:
                db.execute(handoff_tags.insert(), [
                    {"handoff_id": handoff_id, "tag": tag, "created_at": now}
                    for tag in sorted(set(tags))])
        return sorted(set(tags))

    def tags_of(self, handoff_ids: list[str]) -> dict[str, list[str]]:
        """handoff id -> its tags (sorted)."""
        found: dict[str, list[str]] = {h: [] for h in handoff_ids}
        if not handoff_ids:
            return found
        query = (sa.select(handoff_tags.c.handoff_id, handoff_tags.c.tag)
                 .where(handoff_tags.c.handoff_id.in_(handoff_ids))
                 .order_by(handoff_tags.c.tag))
        with self.engine.connect() as db:
            for row in db.execute(query):
                found[row.handoff_id].append(row.tag)
        return found

    def all_tags(self) -> list[str]:
        """Every tag in use, for the console's filter."""
        with self.engine.connect() as db:
            return [r[0] for r in db.execute(sa.select(handoff_tags.c.tag).distinct()
                                             .order_by(handoff_tags.c.tag))]

    def groups_of(self, handoff_ids: list[str]) -> dict[str, str | None]:
        """handoff id -> the group of its newest transfer (None: never sent to a group)."""
        found: dict[str, str | None] = {h: None for h in handoff_ids}
        if not handoff_ids:
            return found
        query = (sa.select(transfers.c.handoff_id, transfers.c.to_group)
                 .where(transfers.c.handoff_id.in_(handoff_ids)).order_by(transfers.c.id))
        with self.engine.connect() as db:
            for row in db.execute(query):
                found[row.handoff_id] = row.to_group
        return found

    def transfer(self, handoff_id: str, from_agent_id: int, to_group: str | None = None,
                 to_agent_id: int | None = None) -> dict[str, Any]:
        """Send a handoff back to the queue for a group, or hand it to another agent, in one
        conditional UPDATE; raises ConflictError when its state (or holder) forbids it."""
        action = "transfer_agent" if to_agent_id is not None else "transfer_group"
        allowed, target = TRANSITIONS[action]
        now = time.time()
        values: dict[str, Any] = {"status": target, "agent_id": to_agent_id,
                                  "claimed_at": now if to_agent_id is not None else None}
        condition = [handoffs.c.id == handoff_id, handoffs.c.status.in_(allowed),
                     sa.or_(handoffs.c.status == "queued",
                            handoffs.c.agent_id == from_agent_id)]
        with self.engine.begin() as db:
            changed = db.execute(handoffs.update().where(*condition).values(**values)).rowcount
            if changed:
                db.execute(transfers.insert().values(
                    handoff_id=handoff_id, from_agent_id=from_agent_id,
                    to_agent_id=to_agent_id, to_group=to_group, created_at=now))
        current = self.handoff(handoff_id)
        if not changed:
            raise ConflictError(_conflict_message(current, "transfer"))
        return current

    def agents_list(self) -> list[dict[str, Any]]:
        """Every agent: id, username, display name and when last seen."""
        query = sa.select(agents.c.id, agents.c.username, agents.c.display_name,
                          agents.c.last_seen_at).order_by(agents.c.display_name)
        with self.engine.connect() as db:
            return [dict(row._mapping) for row in db.execute(query)]

    # --- service state -------------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        """A value the service keeps between runs (e.g. the event stream's position)."""
        with self.engine.connect() as db:
            return db.execute(sa.select(state.c.value).where(state.c.key == key)).scalar()

    def set_state(self, key: str, value: str) -> None:
        """Store a value the service keeps between runs."""
        with self.engine.begin() as db:
            if db.execute(state.update().where(state.c.key == key)
                          .values(value=value)).rowcount == 0:
                db.execute(state.insert().values(key=key, value=value))


def _row(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    data = dict(row._mapping)
    data["payload"] = json.loads(data.get("payload") or "{}")
    return data


def _message(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["meta"] = json.loads(data.get("meta") or "{}")
    return data


def _conflict_message(current: dict[str, Any], action: str) -> str:
    if current["status"] == "claimed" and action in ("claim", "resolve", "handback",
                                                     "transfer"):
        return f"handoff is held by {current.get('agent_name') or 'another agent'}"
    return f"cannot {action} a handoff that is {current['status']}"
