"""Customer messages of handed-off conversations, read live from Rasa's event stream.

Rasa's SQL event broker (endpoints.yml `event_broker: type: SQL`) writes every tracker event
to its `events` table, also while a conversation is paused. The service tails that table by
id, keeps its position in its own store, and adds each customer message of a conversation
with an open handoff to that handoff. "算了不用了" while still queued cancels the handoff.
"""
from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from contracts.handoff import NOT_WORD as _NOT_WORD
from contracts.masking import mask_sensitive
from handoff.store import Store, make_engine

logger = logging.getLogger(__name__)
CURSOR_KEY = "events_cursor"
BATCH = 500
broker_events = sa.table("events", sa.column("id"), sa.column("sender_id"), sa.column("data"))

# Asking for a human (again): "转人工", "人工客服", "找真人" ... (or the intent request_human).
_HUMAN = re.compile(r"人工|真人|客服|转接|找人")
# A message that closes a question rather than asking one: thanks, ok, bye.
_THANKS = re.compile(r"^(?:好的?|好吧|嗯+|哦+|噢+|ok|okay|行|可以了?|知道了|明白了|收到|没问题|"
                     r"没有了|谢谢|多谢|感谢|辛苦了?|再见|拜拜|bye)+(?:你|您|啦|了|啊|呀|哈|的)*$",
                     re.IGNORECASE)
CLOSING_INTENTS = {"thank", "goodbye", "affirm", "greet"}


def is_request_for_human(text: str, intent: str | None = None) -> bool:
    """Whether a short message asks for a human agent."""
    if intent == "request_human":
        return True
    cleaned = _NOT_WORD.sub("", unicodedata.normalize("NFKC", text or ""))
    return bool(cleaned) and len(cleaned) <= 12 and bool(_HUMAN.search(cleaned))


def is_thanks(text: str, intent: str | None = None) -> bool:
    """Whether a message thanks, agrees or says goodbye (nothing left to answer)."""
    if intent in CLOSING_INTENTS:
        return True
    cleaned = _NOT_WORD.sub("", unicodedata.normalize("NFKC", text or ""))
    return not cleaned or (len(cleaned) <= 12 and bool(_THANKS.match(cleaned)))


IMAGE_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class CustomerMessage:
    """A customer message from the event stream."""

    event_id: int
    conversation_id: str
    text: str
    timestamp: float
    intent: dict[str, Any]
    emotion: dict[str, Any] | None
    # The customer restarted the conversation (/restart): the bot answers again.
    restart: bool = False
    # A photo the customer sent from the widget (its id on the widget server).
    image_id: str | None = None
    # What makes a redelivered event recognisable (the message broker's path); default: the
    # SQL broker table's row id.
    key: str | None = None

    @property
    def event_key(self) -> str:
        """The key the store records this message under, once."""
        return self.key or f"event-{self.event_id}-{self.timestamp}"


def customer_message(event_id: int, sender_id: str, data: str | bytes,
                     key: str | None = None) -> CustomerMessage | None:
    """The customer message of a broker row or queue message, or None for every other event."""
    try:
        event = json.loads(data)
    except (TypeError, ValueError):
        return None
    if not isinstance(event, dict) or event.get("event") not in ("user", "restart"):
        return None
    sender_id = str(event.get("sender_id") or sender_id)
    if key is not None:  # a queue message: the conversation and the event's own time
        key = f"amqp-{sender_id}-{event.get('timestamp')}"
    if event["event"] == "restart":
        return CustomerMessage(event_id, sender_id, "", float(event.get("timestamp") or 0),
                               {}, None, restart=True, key=key)
    parse = event.get("parse_data") or {}
    intent = parse.get("intent") or {}
    return CustomerMessage(
        event_id=event_id,
        conversation_id=event.get("sender_id") or sender_id,
        text=str(event.get("text") or ""),
        timestamp=float(event.get("timestamp") or 0),
        intent={"name": intent.get("name"), "confidence": intent.get("confidence")},
        emotion=parse.get("emotion"),
        image_id=_image_id(event.get("metadata")),
        key=key,
    )


def _image_id(metadata: Any) -> str | None:
    """The id of a photo sent with the message (32 hex digits), if any."""
    value = metadata.get("image_id") if isinstance(metadata, dict) else None
    return value if isinstance(value, str) and IMAGE_ID.match(value) else None


class EventTail:
    """Reads new rows of the broker table and records customer messages of open handoffs."""

    def __init__(self, store: Store, events_url: str) -> None:
        """Connect lazily: the table appears only once Rasa has published an event."""
        self.store, self.events_url = store, events_url
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """The broker database's engine."""
        if self._engine is None:
            self._engine = make_engine(self.events_url)
        return self._engine

    def poll(self) -> list[tuple[dict[str, Any], CustomerMessage]]:
        """Process the rows since the last poll; returns the (handoff, message) pairs that
        were added, for the caller to act on (cancellations)."""
        cursor = int(self.store.get_state(CURSOR_KEY) or 0)
        try:
            with self.engine.connect() as db:
                rows = db.execute(sa.select(broker_events).where(broker_events.c.id > cursor)
                                  .order_by(broker_events.c.id).limit(BATCH)).all()
        except SQLAlchemyError as error:
            if "no such table" not in str(error):
                logger.warning("event stream not readable: %s", error)
            return []
        added = []
        for row in rows:
            message = customer_message(row.id, row.sender_id, row.data)
            if message:
                added.extend(self._record(message))
        if rows:
            self.store.set_state(CURSOR_KEY, str(rows[-1].id))
        elif cursor:
            self._rewind_if_recreated(cursor)
        return added

    def _rewind_if_recreated(self, cursor: int) -> None:
        """Start from the beginning when the broker table was emptied or recreated."""
        with self.engine.connect() as db:
            newest = db.execute(sa.select(sa.func.max(broker_events.c.id))).scalar()
        if (newest or 0) < cursor:
            logger.info("event stream restarted (newest id %s < %s): reading it again",
                        newest, cursor)
            self.store.set_state(CURSOR_KEY, "0")

    def backfill(self, handoff: dict[str, Any]) -> list[tuple[dict[str, Any], CustomerMessage]]:
        """Record the conversation's messages already in the stream, for a handoff created
        after them (delivered late from the bot's outbox)."""
        try:
            with self.engine.connect() as db:
                rows = db.execute(sa.select(broker_events).where(
                    broker_events.c.sender_id == handoff["conversation_id"])
                    .order_by(broker_events.c.id)).all()
        except SQLAlchemyError:
            return []
        added = []
        for row in rows:
            message = customer_message(row.id, row.sender_id, row.data)
            if message:
                added.extend(self._record(message, handoff))
        return added

    def _record(self, message: CustomerMessage, handoff: dict[str, Any] | None = None
                ) -> list[tuple[dict[str, Any], CustomerMessage]]:
        return record_message(self.store, message, handoff)


def record_message(store: Store, message: CustomerMessage, handoff: dict[str, Any] | None = None
                   ) -> list[tuple[dict[str, Any], CustomerMessage]]:
    """Add a customer message to its conversation's open handoff, once (by its event key);
    returns the (handoff, message) pair when it was added now."""
    handoff = handoff or store.open_handoff_for(message.conversation_id)
    # Messages up to the request are in the transcript the bot sent.
    if not handoff or message.timestamp <= handoff["requested_at"]:
        return []
    if message.restart:
        return [(handoff, message)]
    meta: dict[str, Any] = {"intent": message.intent, "emotion": message.emotion}
    if message.image_id:
        meta["image_id"] = message.image_id
    added = store.add_message(handoff, "customer", mask_sensitive(message.text), "live",
                              meta, timestamp=message.timestamp, event_key=message.event_key)
    return [(handoff, message)] if added else []
