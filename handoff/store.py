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
from pathlib import Path
from statistics import median
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

logger = logging.getLogger(__name__)
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
    """An engine for the URL; SQLite files get their folder and a busy timeout."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"future": True, "pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 15, "check_same_thread": False}
    return sa.create_engine(url, **kwargs)


class Store:
    """All reads and writes of the service."""

    def __init__(self, url: str) -> None:
        """Connect and create the tables if they are missing."""
        self.engine = make_engine(url)
        metadata.create_all(self.engine)
        _add_missing_columns(self.engine)
        try:  # a store created before the index: add it (create_all skips existing tables)
            one_open_per_conversation.create(self.engine, checkfirst=True)
        except sa.exc.SQLAlchemyError as error:
            logger.error("cannot enforce one open handoff per conversation (close the "
                         "duplicates, then restart): %s", error)

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

    def list_handoffs(self, statuses: tuple[str, ...], limit: int = 200) -> list[dict[str, Any]]:
        """Handoffs in the given states: by priority, then the longest waiting first."""
        query = (sa.select(handoffs, agents.c.display_name.label("agent_name"),
                           agents.c.username.label("agent_username"))
                 .select_from(handoffs.outerjoin(agents, agents.c.id == handoffs.c.agent_id))
                 .where(handoffs.c.status.in_(statuses))
                 .order_by(handoffs.c.priority_rank, handoffs.c.created_at).limit(limit))
        with self.engine.connect() as db:
            return [_row(row) or {} for row in db.execute(query)]

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
                                         messages.c.source != "notice")
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


# Columns added after a table was first created: (table, column, DDL type and default).
# create_all skips existing tables, so an older store gets them here (the Alembic migrations
# that replace this list must add the same).
_LATER_COLUMNS = (
    ("agents", "role", "VARCHAR(16) NOT NULL DEFAULT 'agent'"),
)


def _add_missing_columns(engine: Engine) -> None:
    """Add the columns of _LATER_COLUMNS that an existing store lacks."""
    inspector = sa.inspect(engine)
    for table, column, ddl in _LATER_COLUMNS:
        present = {c["name"] for c in inspector.get_columns(table)}
        if column not in present:
            with engine.begin() as db:
                db.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))
            logger.info("added %s.%s to the handoff store", table, column)


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
    if current["status"] == "claimed" and action in ("claim", "resolve", "handback"):
        return f"handoff is held by {current.get('agent_name') or 'another agent'}"
    return f"cannot {action} a handoff that is {current['status']}"
