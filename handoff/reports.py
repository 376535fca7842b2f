"""Service records for supervisors: figures computed from Rasa's tracker store and the
handoff store, without HTTP (handoff/report_routes.py serves them).

Sources, read as they are:
- the tracker store's `events` table (Rasa's SQLTrackerStore; read-only connection): every
  customer message with its parse result (intent, confidence, emotion, channel);
- the handoff store: handoffs with their reason, priority, times and outcome, and agents;
- optionally the widget's satisfaction ratings (`csat` table of WIDGET_DB, read-only).

A summary table (`report_conversations`, one row per conversation, and `report_missed`, one
row per message the bot did not understand) is filled incrementally from the tracker events
after the last one read; it is a cache: `rebuild()` drops it and reads everything again.
A conversation is one Rasa session (a new `session_started` starts the next one).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import threading
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from contracts.handoff import EMOTION_LABELS
from handoff import labels
from handoff.schema import REASONS
from handoff.store import (
    agents,
    handoffs,
    label_queue,
    report_conversations,
    report_missed,
    state,
)

LOCAL = ZoneInfo("Asia/Shanghai")
STATE_KEY = "reports.tracker_last_event_id"
# Below this intent confidence a message counts as not understood even when the NLU did not
# fall back (the bot's fallback threshold is lower; these are the shaky guesses).
LOW_CONFIDENCE = 0.5
MISSED_INTENTS = {"nlu_fallback": "nlu_fallback", "out_of_scope": "out_of_scope",
                  "nonsense": "out_of_scope"}
# Topics that say nothing about what a conversation was about.
PASSING_TOPICS = {"greeting", "human", "out_of_scope"}
EMOTION_RANK = {"calm": 0, "upset": 1, "angry": 2}
REPLAYED = "replayed_offer"  # bot.nlu.other_request.REPLAYED (an offer the bot put back)
MAX_RANGE_DAYS = 366
BATCH_EVENTS = 20_000
# Grouping of not-understood messages: at most this many distinct texts (the most frequent).
MAX_GROUP_TEXTS = 1500
GROUP_DISTANCE = 0.85
CHANNEL_LABELS = {"rest": "接口（REST）", "socketio": "网站聊天窗口", "wechat": "微信",
                  "telegram": "Telegram", "unknown": "未知"}
REASON_LABELS = {"nlu_fallback": "没有听懂", "out_of_scope": "超出服务范围",
                 "low_confidence": "把握不大"}

TSV_COLUMNS = ("conversation_id", "timestamp", "text", "predicted_intent", "confidence",
               "reason", "suggested_topic", "label")


class RangeError(ValueError):
    """A date range the reports cannot use (the message says why, for a 400)."""


@dataclass(frozen=True)
class DateRange:
    """Whole days in Beijing time, both ends included."""

    first: date
    last: date

    @property
    def start(self) -> float:
        """Epoch seconds of the first day's midnight in Beijing."""
        return datetime.combine(self.first, datetime.min.time(), LOCAL).timestamp()

    @property
    def end(self) -> float:
        """Epoch seconds of the midnight after the last day in Beijing."""
        return datetime.combine(self.last + timedelta(days=1), datetime.min.time(),
                                LOCAL).timestamp()

    def days(self) -> list[str]:
        """Every day of the range, YYYY-MM-DD."""
        count = (self.last - self.first).days + 1
        return [(self.first + timedelta(days=i)).isoformat() for i in range(count)]


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_range(first: str | None, last: str | None, today: date | None = None) -> DateRange:
    """The range of `from`/`to` (YYYY-MM-DD, Beijing days); the last 30 days by default."""
    today = today or datetime.now(LOCAL).date()
    end = _day(last, "to") if last else today
    start = _day(first, "from") if first else end - timedelta(days=29)
    if start > end:
        raise RangeError("from must not be after to")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise RangeError(f"the range may span at most {MAX_RANGE_DAYS} days")
    return DateRange(start, end)


def _day(value: str, name: str) -> date:
    if len(value) > 10 or not _DAY.match(value):
        raise RangeError(f"{name}: a day as YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError as error:
        raise RangeError(f"{name}: {value} is not a day") from error
    if not 2000 <= day.year <= 2100:
        raise RangeError(f"{name}: a day between 2000 and 2100")
    return day


def local_time(timestamp: float) -> datetime:
    """An epoch time in Beijing."""
    return datetime.fromtimestamp(timestamp, LOCAL)


# --- reading the tracker store ---------------------------------------------------------------


def tracker_engine(url: str) -> Engine:
    """A read-only engine on the tracker store (a SQLite file is opened with mode=ro)."""
    if url.startswith("sqlite:///") and "mode=ro" not in url:
        path = Path(url.removeprefix("sqlite:///")).resolve()
        return sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", future=True,
                                connect_args={"timeout": 15, "check_same_thread": False})
    engine = sa.create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "postgresql":
        return engine.execution_options(postgresql_readonly=True)
    return engine


def tracker_available(engine: Engine) -> bool:
    """Whether the tracker store exists and has its events table (not before the first chat)."""
    try:
        return sa.inspect(engine).has_table("events")
    except sa.exc.SQLAlchemyError:
        return False


def read_events(engine: Engine, after_id: int = 0,
                batch: int = BATCH_EVENTS) -> Iterator[list[tuple[int, str, str, float, str]]]:
    """Batches of (id, sender_id, type_name, timestamp, data) of the session starts and
    customer messages with an id above `after_id`, in id order."""
    query = sa.text("SELECT id, sender_id, type_name, timestamp, data FROM events "
                    "WHERE id > :after AND type_name IN ('user', 'session_started') "
                    "ORDER BY id LIMIT :batch")
    while True:
        with engine.connect() as db:
            rows = [tuple(r) for r in db.execute(query, {"after": after_id, "batch": batch})]
        if not rows:
            return
        yield rows
        after_id = rows[-1][0]
        if len(rows) < batch:
            return


# --- folding events into conversations ------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    """The value when it is a dict, else an empty one (a damaged event never stops a refresh)."""
    return value if isinstance(value, dict) else {}


def message_topic(parse: dict[str, Any]) -> str | None:
    """The topic of a message from its intent (an FAQ answer: its entry's topic)."""
    intent = _dict(parse.get("intent")).get("name") or ""
    if not isinstance(intent, str):
        return None
    if intent == "faq":
        selector = _dict(_dict(_dict(parse.get("response_selector")).get("faq")).get("response"))
        key = selector.get("intent_response_key")
        return labels.intent_topics().get(key) if isinstance(key, str) else None
    if intent in ("nlu_fallback", ""):
        return None
    return labels.intent_topics().get(intent) or "other"


def missed_reason(parse: dict[str, Any], text: str) -> str | None:
    """Why a typed message counts as not understood, or None."""
    if not text.strip() or text.startswith("/"):
        return None  # a button press
    intent = _dict(parse.get("intent"))
    name = intent.get("name") if isinstance(intent.get("name"), str) else ""
    name = name or "nlu_fallback"
    if name in MISSED_INTENTS:
        return MISSED_INTENTS[name]
    confidence = intent.get("confidence")
    if isinstance(confidence, (int, float)) and confidence < LOW_CONFIDENCE:
        return "low_confidence"
    return None


def new_conversation(sender_id: str, timestamp: float) -> dict[str, Any]:
    """An empty summary row."""
    return {"id": None, "sender_id": sender_id, "started_at": timestamp, "last_at": timestamp,
            "channel": None, "topic": None, "user_messages": 0, "missed_messages": 0,
            "emotion": "calm", "emotion_topic": None, "_dirty": True}


def fold(current: dict[str, Any] | None, row: tuple[int, str, str, float, str],
         missed: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Apply one event to the sender's current conversation: (the conversation it belongs to
    now, conversations it closed). Not-understood messages are appended to `missed`."""
    _, sender_id, kind, timestamp, data = row
    timestamp = float(timestamp or 0.0)
    closed: list[dict[str, Any]] = []
    if kind == "session_started":
        if current is not None and current["user_messages"] == 0:
            current.update(started_at=timestamp, last_at=timestamp, _dirty=True)
            return current, closed
        if current is not None:
            closed.append(current)
        return new_conversation(sender_id, timestamp), closed
    try:
        event = json.loads(data) if isinstance(data, str) else (data or {})
    except ValueError:
        event = {}
    event = event if isinstance(event, dict) else {}
    parse = _dict(event.get("parse_data"))
    if parse.get(REPLAYED):
        return current or new_conversation(sender_id, timestamp), closed
    conversation = current or new_conversation(sender_id, timestamp)
    conversation["_dirty"] = True
    conversation["last_at"] = max(conversation["last_at"], timestamp)
    conversation["user_messages"] += 1
    channel = event.get("input_channel")
    conversation["channel"] = conversation["channel"] or (
        channel[:64] if isinstance(channel, str) and channel else "unknown")
    topic = message_topic(parse)
    if topic and topic not in PASSING_TOPICS and conversation["topic"] in (None, *PASSING_TOPICS):
        conversation["topic"] = topic
    elif conversation["topic"] is None and topic:
        conversation["topic"] = topic
    label = _dict(parse.get("emotion")).get("label")
    if label in EMOTION_RANK and EMOTION_RANK[label] > EMOTION_RANK[conversation["emotion"]]:
        if conversation["emotion"] == "calm":  # where it turned
            conversation["emotion_topic"] = (topic if topic and topic not in PASSING_TOPICS
                                             else conversation["topic"])
        conversation["emotion"] = label
    if conversation["emotion"] != "calm" and conversation["emotion_topic"] in (None,
                                                                               *PASSING_TOPICS):
        if conversation["topic"] not in (None, *PASSING_TOPICS):
            conversation["emotion_topic"] = conversation["topic"]
    raw_text = event.get("text")
    text = raw_text if isinstance(raw_text, str) else ""
    reason = missed_reason(parse, text)
    if reason:
        conversation["missed_messages"] += 1
        intent = _dict(parse.get("intent"))
        confidence = intent.get("confidence")
        name = intent.get("name")
        missed.append({"sender_id": sender_id, "timestamp": timestamp,
                       "text": " ".join(text.split())[:500],
                       "intent": name[:128] if isinstance(name, str) else None,
                       "confidence": float(confidence) if isinstance(confidence, (int, float))
                       else None, "reason": reason})
    return conversation, closed


def fold_all(rows: Iterable[tuple[int, str, str, float, str]]
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every conversation and not-understood message of the events, in memory (the naive
    full scan; also what `refresh` does per batch)."""
    current: dict[str, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    missed: list[dict[str, Any]] = []
    for row in rows:
        conversation, closed = fold(current.get(row[1]), row, missed)
        current[row[1]] = conversation
        done.extend(closed)
    return [c for c in done + list(current.values()) if c["user_messages"]], missed


# --- the summary table -------------------------------------------------------------------


class Summary:
    """The incrementally refreshed summary of the tracker store, kept in the handoff store."""

    def __init__(self, engine: Engine, tracker: Engine | None) -> None:
        """`engine`: the handoff store's; `tracker`: the read-only tracker store (or None)."""
        self.engine, self.tracker = engine, tracker
        self._lock = threading.Lock()
        self._cache: dict[DateRange, tuple[tuple, dict[str, Any]]] = {}

    def last_event_id(self) -> int:
        """The id of the last tracker event folded into the summary."""
        with self.engine.connect() as db:
            value = db.execute(sa.select(state.c.value).where(state.c.key == STATE_KEY)).scalar()
        return int(value or 0)

    def rebuild(self) -> int:
        """Forget the summary and read the tracker store from the start; returns events read."""
        with self._lock:
            self._cache.clear()
            with self.engine.begin() as db:
                db.execute(report_missed.delete())
                db.execute(report_conversations.delete())
                db.execute(state.delete().where(state.c.key == STATE_KEY))
        return self.refresh()

    def refresh(self) -> int:
        """Fold the tracker events added since the last refresh; returns how many were read."""
        if self.tracker is None or not tracker_available(self.tracker):
            return 0
        with self._lock:
            count = 0
            for rows in read_events(self.tracker, self.last_event_id()):
                self._apply(rows)
                count += len(rows)
            return count

    def _apply(self, rows: list[tuple[int, str, str, float, str]]) -> None:
        current = self._latest(sorted({row[1] for row in rows}))
        changed: list[dict[str, Any]] = []
        missed: list[dict[str, Any]] = []
        for row in rows:
            conversation, closed = fold(current.get(row[1]), row, missed)
            current[row[1]] = conversation
            changed.extend(closed)
        changed.extend(current.values())
        with self.engine.begin() as db:
            inserts = [_stored(c) for c in changed
                       if c["id"] is None and c["user_messages"]]
            updates = [{**_stored(c), "row_id": c["id"]} for c in changed
                       if c["id"] is not None and c["_dirty"]]
            if inserts:
                db.execute(report_conversations.insert(), inserts)
            if updates:
                db.execute(report_conversations.update()
                           .where(report_conversations.c.id == sa.bindparam("row_id"))
                           .values({k: sa.bindparam(k) for k in _STORED}), updates)
            if missed:
                db.execute(report_missed.insert(), missed)
            last = str(rows[-1][0])
            if db.execute(state.update().where(state.c.key == STATE_KEY)
                          .values(value=last)).rowcount == 0:
                db.execute(state.insert().values(key=STATE_KEY, value=last))

    def _latest(self, senders: list[str]) -> dict[str, dict[str, Any]]:
        """Each sender's newest conversation row, to continue it."""
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(senders), 500):
            chunk = senders[i:i + 500]
            newest = (sa.select(report_conversations.c.sender_id,
                                sa.func.max(report_conversations.c.started_at).label("s"))
                      .where(report_conversations.c.sender_id.in_(chunk))
                      .group_by(report_conversations.c.sender_id).subquery())
            query = sa.select(report_conversations).join(newest, sa.and_(
                newest.c.sender_id == report_conversations.c.sender_id,
                newest.c.s == report_conversations.c.started_at))
            with self.engine.connect() as db:
                for row in db.execute(query):
                    data = dict(row._mapping)
                    data["_dirty"] = False
                    found[data["sender_id"]] = data
        return found


    def report(self, span: DateRange, csat: Engine | None = None) -> dict[str, Any]:
        """Refresh, then the report of the range; computed again only when the tracker
        store, the handoffs or the ratings changed since the last one of this range."""
        self.refresh()
        key = (span, self.last_event_id(), self._handoffs_state(), _ratings_state(csat))
        with self._lock:
            cached = self._cache.get(span)
            if cached and cached[0] == key:
                return cached[1]
        conversations = load_conversations(self.engine, span)
        # a handoff a little after its conversation's last day still counts
        handoff_rows = load_handoffs(self.engine, span.start, span.end + 86400)
        missed = load_missed(self.engine, span)
        report = compute(conversations, handoff_rows, missed, load_ratings(csat, span), span)
        with self._lock:
            if len(self._cache) > 16:
                self._cache.clear()
            self._cache[span] = (key, report)
        return report

    def _handoffs_state(self) -> tuple:
        """Changes when a handoff is created or changes state."""
        query = sa.select(handoffs.c.status, sa.func.count(), sa.func.max(handoffs.c.created_at),
                          sa.func.max(handoffs.c.claimed_at), sa.func.max(handoffs.c.closed_at)
                          ).group_by(handoffs.c.status).order_by(handoffs.c.status)
        with self.engine.connect() as db:
            return tuple(tuple(row) for row in db.execute(query))


def _ratings_state(csat: Engine | None) -> tuple:
    """Changes when a rating is given or changed."""
    if csat is None:
        return ()
    try:
        with csat.connect() as db:
            return tuple(db.execute(sa.text("SELECT count(*), max(updated_at) FROM csat")).one())
    except sa.exc.SQLAlchemyError:
        return ()


_STORED = ("sender_id", "started_at", "last_at", "channel", "topic", "user_messages",
           "missed_messages", "emotion", "emotion_topic")


def _stored(conversation: dict[str, Any]) -> dict[str, Any]:
    return {k: conversation[k] for k in _STORED}


# --- the report ------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    # The smallest value with at least `share` of the values at or below it: ceil(share * n).
    # (Rounding share * n + 0.5 instead rounded halves to even and took the next value up
    # whenever share * n was odd: the median of 2 or 6 values was one rank too high.)
    index = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered) - 1e-9) - 1))
    return ordered[index]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def load_conversations(engine: Engine, span: DateRange) -> list[dict[str, Any]]:
    """The summary rows of the conversations that started in the range."""
    query = (sa.select(report_conversations)
             .where(report_conversations.c.started_at >= span.start,
                    report_conversations.c.started_at < span.end,
                    report_conversations.c.user_messages > 0))
    return _dicts(engine, query)


def _dicts(engine: Engine, query: Any) -> list[dict[str, Any]]:
    """The rows of a query as dicts (plain tuples zipped: several times faster than Row
    mappings on 100,000 rows)."""
    with engine.connect() as db:
        result = db.execute(query)
        names = list(result.keys())
        return [dict(zip(names, row)) for row in result.fetchall()]


def load_handoffs(engine: Engine, start: float, end: float) -> list[dict[str, Any]]:
    """Handoffs created in [start, end), without their payloads."""
    columns = [handoffs.c[name] for name in (
        "id", "conversation_id", "channel", "reason", "priority", "status", "topic",
        "created_at", "claimed_at", "closed_at", "agent_id")]
    query = sa.select(*columns).where(handoffs.c.created_at >= start, handoffs.c.created_at < end)
    return _dicts(engine, query)


def load_missed(engine: Engine, span: DateRange) -> list[dict[str, Any]]:
    """The not-understood messages of the range."""
    query = sa.select(report_missed).where(report_missed.c.timestamp >= span.start,
                                           report_missed.c.timestamp < span.end)
    return _dicts(engine, query)


def load_ratings(csat: Engine | None, span: DateRange) -> list[dict[str, Any]]:
    """The widget's satisfaction ratings of the range (none when not configured or absent)."""
    if csat is None:
        return []
    try:
        if not sa.inspect(csat).has_table("csat"):
            return []
        with csat.connect() as db:
            rows = db.execute(sa.text("SELECT session_id, rating, trigger, created_at FROM csat"))
            ratings = []
            for session_id, rating, trigger, created in rows:
                when = _epoch(created)
                if when is not None and span.start <= when < span.end + 86400:
                    ratings.append({"session_id": session_id, "rating": int(rating),
                                    "trigger": trigger, "at": when})
            return ratings
    except sa.exc.SQLAlchemyError:
        return []


def _epoch(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def link(conversations: list[dict[str, Any]], items: list[dict[str, Any]], key: str,
         at: str) -> dict[int, list[dict[str, Any]]]:
    """Items (handoffs, ratings) per conversation: the same sender, the newest conversation
    that started before the item (index into `conversations`)."""
    if not items:
        return {}
    wanted = {item[key] for item in items}
    starts: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for index, conversation in enumerate(conversations):
        if conversation["sender_id"] in wanted:
            starts[conversation["sender_id"]].append((conversation["started_at"], index))
    for entries in starts.values():
        entries.sort()
    linked: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        candidates = starts.get(item[key])
        if not candidates:
            continue
        chosen = None
        for started, index in candidates:
            if started <= item[at] + 1:
                chosen = index
        if chosen is not None:
            linked[chosen].append(item)
    return linked


def compute(conversations: list[dict[str, Any]], handoff_rows: list[dict[str, Any]],
            missed: list[dict[str, Any]], ratings: list[dict[str, Any]], span: DateRange,
            group: bool = True) -> dict[str, Any]:
    """Every figure of the reports page, from the rows of the range."""
    by_handoff = link(conversations, handoff_rows, "conversation_id", "created_at")
    by_rating = link(conversations, ratings, "session_id", "at")
    total = len(conversations)
    user_messages = sum(c["user_messages"] for c in conversations)
    missed_messages = sum(c["missed_messages"] for c in conversations)
    return {
        "range": {"from": span.first.isoformat(), "to": span.last.isoformat(),
                  "timezone": "Asia/Shanghai"},
        "totals": {
            "conversations": total,
            "customer_messages": user_messages,
            "handoffs": len(handoff_rows),
            "contained": sum(1 for i in range(total) if i not in by_handoff),
            "containment_rate": _rate(sum(1 for i in range(total) if i not in by_handoff), total),
            "fallback_rate": _rate(missed_messages, user_messages),
            "conversations_with_fallback": sum(1 for c in conversations if c["missed_messages"]),
            "upset_rate": _rate(sum(1 for c in conversations if c["emotion"] != "calm"), total),
            "ratings": len(ratings),
            "average_rating": _average([r["rating"] for r in ratings]),
        },
        "traffic": traffic(conversations, span),
        "containment": containment(conversations, by_handoff),
        "handoffs": handoff_figures(handoff_rows),
        "fallback": fallback(conversations, missed, group),
        "satisfaction": satisfaction(conversations, by_handoff, by_rating),
        "emotion": emotion(conversations),
    }


def _average(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def traffic(conversations: list[dict[str, Any]], span: DateRange) -> dict[str, Any]:
    """Conversations per Beijing day (per channel), per hour of day, per channel."""
    days: dict[str, Counter] = {day: Counter() for day in span.days()}
    hours = [0] * 24
    heat: Counter = Counter()
    channels: Counter = Counter()
    for c in conversations:
        moment = local_time(c["started_at"])
        channel = c["channel"] or "unknown"
        day = moment.date().isoformat()
        if day in days:
            days[day][channel] += 1
        hours[moment.hour] += 1
        heat[(moment.weekday(), moment.hour)] += 1
        channels[channel] += 1
    names = sorted(channels, key=lambda n: -channels[n])
    return {
        "channels": [{"channel": n, "label": CHANNEL_LABELS.get(n, n), "conversations": channels[n]}
                     for n in names],
        "per_day": [{"day": day, "conversations": sum(counts.values()),
                     "per_channel": {n: counts.get(n, 0) for n in names}}
                    for day, counts in days.items()],
        "per_hour": [{"hour": h, "conversations": hours[h]} for h in range(24)],
        "weekday_hour": [{"weekday": w, "hour": h, "conversations": heat[(w, h)]}
                         for w in range(7) for h in range(24) if heat[(w, h)]],
        "peak_hour": max(range(24), key=lambda h: hours[h]) if conversations else None,
    }


def containment(conversations: list[dict[str, Any]],
                by_handoff: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per topic: conversations, those the bot resolved without a human, and the share."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for index, c in enumerate(conversations):
        entry = counts[c["topic"] or "other"]
        entry[0] += 1
        entry[1] += index not in by_handoff
    rows = [{"topic": t, "topic_label": labels.topic_label(t), "conversations": n,
             "contained": k, "containment_rate": _rate(k, n)} for t, (n, k) in counts.items()]
    return sorted(rows, key=lambda r: (-r["conversations"], r["topic"]))


def handoff_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Handoffs by reason and priority, waits, handling times and outcomes."""
    waits = [r["claimed_at"] - r["created_at"] for r in rows
             if r["claimed_at"] and r["claimed_at"] >= r["created_at"]]
    handling = [r["closed_at"] - r["claimed_at"] for r in rows
                if r["claimed_at"] and r["closed_at"] and r["closed_at"] >= r["claimed_at"]
                and r["status"] in ("resolved", "handed_back")]
    status = Counter(r["status"] for r in rows)
    reasons = Counter(r["reason"] for r in rows)
    priorities = Counter(r["priority"] for r in rows)
    return {
        "total": len(rows),
        "by_reason": [{"reason": k, "label": REASONS.get(k, k), "handoffs": v}
                      for k, v in reasons.most_common()],
        "by_priority": [{"priority": k, "label": PRIORITY_LABELS.get(k, k),
                         "handoffs": priorities.get(k, 0)} for k in ("urgent", "high", "normal")],
        "by_status": [{"status": k, "label": STATUS_LABELS[k], "handoffs": status.get(k, 0)}
                      for k in STATUS_LABELS],
        "wait_seconds": {"p50": _round(percentile(waits, 0.5)),
                         "p90": _round(percentile(waits, 0.9)),
                         "max": _round(max(waits)) if waits else None, "count": len(waits)},
        "handling_seconds": {"p50": _round(percentile(handling, 0.5)),
                             "p90": _round(percentile(handling, 0.9)),
                             "mean": _round(sum(handling) / len(handling)) if handling else None,
                             "max": _round(max(handling)) if handling else None,
                             "count": len(handling)},
        "handed_back": status.get("handed_back", 0),
        "abandoned": status.get("abandoned", 0),
        "abandoned_rate": _rate(status.get("abandoned", 0), len(rows)),
    }


PRIORITY_LABELS = {"urgent": "紧急", "high": "高", "normal": "普通"}
STATUS_LABELS = {"queued": "排队中", "claimed": "处理中", "resolved": "已解决",
                 "handed_back": "转回机器人", "cancelled": "客户取消",
                 "abandoned": "无人接待已过期"}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def fallback(conversations: list[dict[str, Any]], missed: list[dict[str, Any]],
             group: bool) -> dict[str, Any]:
    """The fallback rate and the not-understood messages grouped by similarity."""
    user_messages = sum(c["user_messages"] for c in conversations)
    reasons = Counter(m["reason"] for m in missed)
    return {
        "messages": len(missed),
        "rate": _rate(len(missed), user_messages),
        "by_reason": [{"reason": k, "label": REASON_LABELS[k], "messages": reasons.get(k, 0)}
                      for k in REASON_LABELS],
        "groups": group_missed(missed) if group else [],
    }


def satisfaction(conversations: list[dict[str, Any]], by_handoff: dict[int, list[dict]],
                 by_rating: dict[int, list[dict]]) -> dict[str, Any]:
    """Average rating per topic and for conversations the bot handled versus an agent."""
    per_topic: dict[str, list[int]] = defaultdict(list)
    served: dict[str, list[int]] = {"bot": [], "agent": []}
    for index, rated in by_rating.items():
        conversation = conversations[index]
        with_agent = any(h["claimed_at"] for h in by_handoff.get(index, []))
        for rating in rated:
            per_topic[conversation["topic"] or "other"].append(rating["rating"])
            served["agent" if with_agent else "bot"].append(rating["rating"])
    return {
        "by_topic": sorted(({"topic": t, "topic_label": labels.topic_label(t),
                             "ratings": len(v), "average": _average(v),
                             "satisfied_rate": _rate(sum(1 for x in v if x >= 4), len(v))}
                            for t, v in per_topic.items()),
                          key=lambda r: (-r["ratings"], r["topic"])),
        "by_server": [{"server": k, "label": "机器人" if k == "bot" else "人工客服",
                       "ratings": len(v), "average": _average(v),
                       "satisfied_rate": _rate(sum(1 for x in v if x >= 4), len(v))}
                      for k, v in served.items()],
    }


def emotion(conversations: list[dict[str, Any]]) -> dict[str, Any]:
    """Share of conversations that turned upset or angry, and at which topic."""
    worst = Counter(c["emotion"] for c in conversations)
    at_topic: dict[str, Counter] = defaultdict(Counter)
    for c in conversations:
        if c["emotion"] != "calm":
            at_topic[c["emotion_topic"] or "other"][c["emotion"]] += 1
    total = len(conversations)
    return {
        "by_emotion": [{"emotion": k, "label": EMOTION_LABELS[k], "conversations": worst.get(k, 0),
                        "rate": _rate(worst.get(k, 0), total)} for k in EMOTION_LABELS],
        "by_topic": sorted(({"topic": t, "topic_label": labels.topic_label(t),
                             "upset": n.get("upset", 0), "angry": n.get("angry", 0),
                             "conversations": n.get("upset", 0) + n.get("angry", 0)}
                            for t, n in at_topic.items()),
                           key=lambda r: (-r["conversations"], r["topic"])),
    }


# --- grouping the messages the bot did not understand ----------------------------------------


def normalise(text: str) -> str:
    """The comparison key of a message: NFKC, lower case, no spaces or punctuation (the same
    as evaluation/export_traffic.py's, so the queue and the export de-duplicate alike)."""
    return re.sub(r"[\s\W_]+", "", unicodedata.normalize("NFKC", text).lower())


def shape(text: str) -> str:
    """The grouping key of a message: normalised, every number written as #, so order and
    phone numbers do not make each message its own."""
    return re.sub(r"\d+", "#", normalise(text))


def group_missed(missed: list[dict[str, Any]], limit: int = 30) -> list[dict[str, Any]]:
    """Not-understood messages grouped by similarity, the largest groups first.

    Character 1-3-gram TF-IDF vectors (Chinese needs no word segmentation for this, and
    shared words and phrases give shared n-grams), agglomerative clustering with average
    linkage under a cosine distance threshold, over the most frequent distinct texts."""
    texts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in missed:
        key = shape(message["text"])
        if key:
            texts[key].append(message)
    if not texts:
        return []
    keys = sorted(texts, key=lambda k: (-len(texts[k]), k))[:MAX_GROUP_TEXTS]
    assignment = _clusters(keys)
    groups: dict[int, list[str]] = defaultdict(list)
    for key, cluster in zip(keys, assignment):
        groups[cluster].append(key)
    result = []
    for members in groups.values():
        messages = [m for k in members for m in texts[k]]
        intents = Counter(m["intent"] or "nlu_fallback" for m in messages)
        head = members[0]  # the most frequent text names the group
        result.append({
            "key": hashlib.sha1(head.encode()).hexdigest()[:12],
            "label": texts[head][0]["text"],
            "messages": len(messages),
            "distinct": len(members),
            "conversations": len({m["sender_id"] for m in messages}),
            "examples": [{"text": texts[k][0]["text"], "count": len(texts[k])}
                         for k in members[:8]],
            "intents": [{"intent": k, "label": labels.intent_label(k), "messages": v}
                        for k, v in intents.most_common(3)],
            "_keys": members,
        })
    result.sort(key=lambda g: (-g["messages"], g["label"]))
    return result[:limit]


def _clusters(keys: list[str]) -> list[int]:
    if len(keys) == 1:
        return [0]
    import numpy as np
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectors = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                              min_df=1).fit_transform(keys)
    # Rows are L2-normalised: the cosine distance is 1 - the dot product, computed sparse.
    distances = np.clip(1.0 - (vectors @ vectors.T).toarray(), 0.0, 2.0)
    model = AgglomerativeClustering(n_clusters=None, affinity="precomputed", linkage="average",
                                    distance_threshold=GROUP_DISTANCE)
    return [int(x) for x in model.fit_predict(distances)]


# --- the labelling queue -------------------------------------------------------------------


def queue_group(engine: Engine, group: dict[str, Any], missed: list[dict[str, Any]],
                by: str) -> int:
    """Put a group's messages into the labelling queue (one row per distinct text, numbers
    aside: the earliest is kept); returns how many were new."""
    wanted = set(group["_keys"])
    earliest: dict[str, dict[str, Any]] = {}
    for message in sorted(missed, key=lambda m: m["timestamp"]):
        key = shape(message["text"])
        if key in wanted and key not in earliest:
            earliest[key] = message
    with engine.connect() as db:
        known = {row[0] for row in db.execute(sa.select(label_queue.c.text_key)
                                              .where(label_queue.c.text_key.in_(
                                                  [k[:255] for k in earliest])))}
    now = time.time()
    rows = [{"text_key": key[:255], "text": m["text"], "conversation_id": m["sender_id"],
             "timestamp": m["timestamp"], "predicted_intent": m["intent"],
             "confidence": m["confidence"], "reason": m["reason"], "group_key": group["key"],
             "added_at": now, "added_by": by}
            for key, m in earliest.items() if key[:255] not in known]
    if rows:
        with engine.begin() as db:
            db.execute(label_queue.insert(), rows)
    return len(rows)


def queue_rows(engine: Engine, limit: int = 2000) -> list[dict[str, Any]]:
    """The labelling queue, oldest first."""
    with engine.connect() as db:
        return [dict(r._mapping) for r in db.execute(
            label_queue.select().order_by(label_queue.c.id).limit(limit))]


def set_label(engine: Engine, row_id: int, label: str | None, topic: str | None) -> bool:
    """Record the intent and/or topic a queued message should have had."""
    values = {k: v for k, v in (("label", label), ("suggested_topic", topic)) if v is not None}
    if not values:
        return False
    with engine.begin() as db:
        return db.execute(label_queue.update().where(label_queue.c.id == row_id)
                          .values(**values)).rowcount > 0


def queue_tsv(rows: list[dict[str, Any]]) -> str:
    """The queue in `make export-traffic`'s TSV format (labelled or not)."""
    lines = ["\t".join(TSV_COLUMNS)]
    for r in rows:
        when = datetime.fromtimestamp(r["timestamp"], tz=timezone.utc)
        values = {"conversation_id": r["conversation_id"],
                  "timestamp": when.isoformat(timespec="seconds"), "text": r["text"],
                  "predicted_intent": r["predicted_intent"] or "",
                  "confidence": "" if r["confidence"] is None else f"{r['confidence']:.2f}",
                  "reason": r["reason"], "suggested_topic": r["suggested_topic"] or "",
                  "label": r["label"] or ""}
        lines.append("\t".join(" ".join(str(values[c]).split()) for c in TSV_COLUMNS))
    return "\n".join(lines) + "\n"


# --- the supervisor's view of the team -------------------------------------------------------


def team(engine: Engine, online_seconds: float, now: float | None = None) -> dict[str, Any]:
    """Agents online with their load, the queue's length and its longest wait."""
    now = now or time.time()
    day_start = datetime.combine(local_time(now).date(), datetime.min.time(), LOCAL).timestamp()
    with engine.connect() as db:
        people = [dict(r._mapping) for r in db.execute(sa.select(
            agents.c.id, agents.c.username, agents.c.display_name, agents.c.role,
            agents.c.last_seen_at).order_by(agents.c.display_name))]
        held = dict(db.execute(sa.select(handoffs.c.agent_id, sa.func.count())
                               .where(handoffs.c.status == "claimed")
                               .group_by(handoffs.c.agent_id)).all())
        done = dict(db.execute(sa.select(handoffs.c.agent_id, sa.func.count())
                               .where(handoffs.c.status.in_(("resolved", "handed_back")),
                                      handoffs.c.closed_at >= day_start)
                               .group_by(handoffs.c.agent_id)).all())
        queued = db.execute(sa.select(handoffs.c.priority, handoffs.c.created_at)
                            .where(handoffs.c.status == "queued")).all()
    online = [p for p in people if p["last_seen_at"] and p["last_seen_at"] >= now - online_seconds]
    by_priority = Counter(row.priority for row in queued)
    oldest = min((row.created_at for row in queued), default=None)
    return {
        "agents_online": len(online),
        "queue_length": len(queued),
        "queue_by_priority": [{"priority": k, "label": PRIORITY_LABELS[k],
                               "handoffs": by_priority.get(k, 0)} for k in PRIORITY_LABELS],
        "longest_wait_seconds": round(now - oldest) if oldest else 0,
        "in_progress": sum(held.values()),
        "agents": [{"username": p["username"], "display_name": p["display_name"],
                    "role": p["role"], "online": p in online,
                    "last_seen_seconds": round(now - p["last_seen_at"]) if p["last_seen_at"]
                    else None,
                    "load": held.get(p["id"], 0), "closed_today": done.get(p["id"], 0)}
                   for p in people],
    }


# --- exports ------------------------------------------------------------------------------------


CSV_SECTIONS = ("per_day", "per_hour", "containment", "handoff_reasons", "handoff_status",
                "missed_groups", "satisfaction", "emotion", "summary")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def to_csv(report: dict[str, Any], section: str) -> str:
    """One section of the report as CSV (UTF-8 with a BOM, so Excel reads the Chinese)."""
    header, rows = _csv_rows(report, section)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _csv_rows(report: dict[str, Any], section: str) -> tuple[list[str], list[list[Any]]]:
    if section == "per_day":
        channels = [c["channel"] for c in report["traffic"]["channels"]]
        return (["日期", "会话数", *[CHANNEL_LABELS.get(c, c) for c in channels]],
                [[d["day"], d["conversations"], *[d["per_channel"].get(c, 0) for c in channels]]
                 for d in report["traffic"]["per_day"]])
    if section == "per_hour":
        return (["小时（北京时间）", "会话数"],
                [[h["hour"], h["conversations"]] for h in report["traffic"]["per_hour"]])
    if section == "containment":
        return (["话题", "会话数", "机器人独立解决", "自助解决率"],
                [[r["topic_label"], r["conversations"], r["contained"], r["containment_rate"]]
                 for r in report["containment"]])
    if section == "handoff_reasons":
        return (["转人工原因", "次数"],
                [[r["label"], r["handoffs"]] for r in report["handoffs"]["by_reason"]])
    if section == "handoff_status":
        return (["状态", "次数"],
                [[r["label"], r["handoffs"]] for r in report["handoffs"]["by_status"]])
    if section == "missed_groups":
        return (["分组", "消息数", "不同说法", "会话数", "示例"],
                [[g["label"], g["messages"], g["distinct"], g["conversations"],
                  " | ".join(e["text"] for e in g["examples"])]
                 for g in report["fallback"]["groups"]])
    if section == "satisfaction":
        rows = [["机器人 vs 人工", r["label"], r["ratings"], r["average"], r["satisfied_rate"]]
                for r in report["satisfaction"]["by_server"]]
        rows += [["话题", r["topic_label"], r["ratings"], r["average"], r["satisfied_rate"]]
                 for r in report["satisfaction"]["by_topic"]]
        return ["维度", "名称", "评价数", "平均分", "满意率（4-5 星）"], rows
    if section == "emotion":
        return (["话题", "转为不满", "转为生气", "合计"],
                [[r["topic_label"], r["upset"], r["angry"], r["conversations"]]
                 for r in report["emotion"]["by_topic"]])
    if section == "summary":
        totals, h = report["totals"], report["handoffs"]
        return (["指标", "数值"], [
            ["开始日期", report["range"]["from"]], ["结束日期", report["range"]["to"]],
            ["会话数", totals["conversations"]], ["客户消息数", totals["customer_messages"]],
            ["自助解决率", totals["containment_rate"]], ["未听懂率", totals["fallback_rate"]],
            ["转人工次数", h["total"]], ["等待中位数（秒）", h["wait_seconds"]["p50"]],
            ["等待 P90（秒）", h["wait_seconds"]["p90"]],
            ["处理时长中位数（秒）", h["handling_seconds"]["p50"]],
            ["转回机器人", h["handed_back"]], ["无人接待已过期", h["abandoned"]],
            ["情绪转差的会话占比", totals["upset_rate"]], ["评价数", totals["ratings"]],
            ["平均评分", totals["average_rating"]]])
    raise RangeError(f"section: one of {', '.join(CSV_SECTIONS)}")


def public(report: dict[str, Any]) -> dict[str, Any]:
    """The report without internal fields (the groups' member keys)."""
    groups = [{k: v for k, v in g.items() if not k.startswith("_")}
              for g in report["fallback"]["groups"]]
    return {**report, "fallback": {**report["fallback"], "groups": groups}}
