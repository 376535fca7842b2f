"""Handing a conversation to a human agent: the payload (contract in ../shared/design.md),
its delivery to the handoff service with an idempotency key, and a durable outbox that keeps
every handoff the service could not take and delivers it once the service is back.

The triggers call `hand_off`: a request for a human (action_request_human), a complaint,
high-risk words or anger (action_escalate), two misses in a row (action_fallback), a journey
step that failed three times (the journeys' answer step).
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.clients.handoff import (
    HandoffClient,
    HandoffRejected,
    HandoffUnavailable,
    Ticket,
)
from bot.emotion_tracking import assess, customer_turns
from bot.faq import load_policy
from bot.high_risk import high_risk  # noqa: F401 (the actions import it from here)
from bot.nlu.other_request import replayed
from bot.outbox import Outbox
from bot.settings import ActionSettings
from contracts.handoff import EMOTION_LABELS, HIDDEN_SLOTS, MAX_ID, MAX_TEXT, REASONS, SLOT_LABELS
from contracts.masking import mask_sensitive
from contracts.notices import queued_notice

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
TOPICS_FILE = ROOT / "bot" / "topics.yml"
CHINA = timezone(timedelta(hours=8))
# Bounds of the payload, so the service (limits in handoff/schema.py) never refuses it for
# its size: the newest turns are kept, at most this many and this many characters in all.
MAX_TURNS = 300
MAX_TRANSCRIPT_CHARS = 150_000
MAX_SLOT_CHARS = 500
CLIPPED = "…（已截断）"
EARLIER_CUT = "（较早的 {count} 条消息未随转接发送，完整记录在对话历史中）"
# Channels whose sender is proven by the channel itself (WeChat signs every callback and
# names the openid); elsewhere the customer id is whatever the client sent.
VERIFIED_CHANNELS = {"wechat"}


class Reason(str, Enum):
    """Why the bot hands off (the service's `reason` enum)."""

    EXPLICIT_REQUEST = "explicit_request"
    COMPLAINT = "complaint"
    HIGH_RISK = "high_risk"
    EMOTION_ANGRY = "emotion_angry_message"
    EMOTION_FRUSTRATION = "emotion_frustration"
    EMOTION_RISING = "emotion_rising_frustration"
    REPEATED_FALLBACK = "repeated_fallback"
    JOURNEY_FAILED = "journey_failed"


REASON_LABELS = {reason: REASONS[reason.value] for reason in Reason}
# Topic names in the summary's 「咨询：…」.
TOPIC_NAMES = {
    "greeting": "问候", "order_status": "订单与物流", "order_change": "修改/取消订单",
    "delivery_issue": "配送异常", "payment": "支付与扣款", "refund": "退款",
    "after_sales": "退换货与维修", "invoice": "发票", "account": "账号", "promotion": "优惠与会员",
    "product": "商品咨询", "complaint": "投诉", "human": "转人工", "out_of_scope": "无关问题",
}
# The fields the summary names (by the contract's labels); the payload carries them all.
SUMMARY_SLOTS = frozenset({
    "order_id", "phone", "payment_method", "new_address", "new_phone", "delivery_day",
    "delivery_window", "issue_type", "issue_detail", "payment_error", "refund_reason",
    "after_sales_type", "after_sales_reason", "pickup_method", "invoice_title", "tax_number",
    "account_issue",
})
# Below this confidence the summary says the bot was not sure what the customer wanted.
UNSURE_BELOW = 0.6


def handoff_state(position: int | None = None, eta_minutes: int | None = None) -> dict:
    """The `custom` payload of the bot's queue message (contract in notes/team.md)."""
    return {"handoff": {"state": "queued", "position": position, "eta_minutes": eta_minutes,
                        "agent": None}}


# --- the payload --------------------------------------------------------------------------

@lru_cache(maxsize=1)
def intent_topics() -> dict[str, str]:
    """intent -> topic, from bot/topics.yml."""
    data = yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8")) or {}
    return {intent: topic for topic, intents in (data.get("topics") or {}).items()
            for intent in intents or ()}


def _iso(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp or time.time(), tz=timezone.utc).isoformat(
        timespec="milliseconds")


def _intent_of(event: dict[str, Any]) -> dict[str, Any]:
    parse = event.get("parse_data") or {}
    intent = parse.get("intent") or {}
    name = intent.get("name")
    if name == "faq":
        selected = ((parse.get("response_selector") or {}).get("faq") or {}).get("response") or {}
        key = selected.get("intent_response_key")
        name = key or name
    confidence = intent.get("confidence")
    return {"name": name, "confidence": round(float(confidence), 3) if confidence else None}


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, saying so at the end."""
    if len(text) <= limit:
        return text
    return text[:limit - len(CLIPPED)] + CLIPPED


def transcript(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every customer, bot and agent turn with its time; customer turns with intent and
    emotion. Card and ID numbers are masked; each text is at most MAX_TEXT characters, and a
    long conversation keeps its newest turns (MAX_TURNS, MAX_TRANSCRIPT_CHARS) after a note
    saying how many earlier ones were cut."""
    turns = _turns(events)
    kept: list[dict[str, Any]] = []
    chars = 0
    for turn in reversed(turns):
        chars += len(turn["text"])
        if len(kept) >= MAX_TURNS - 1 or chars > MAX_TRANSCRIPT_CHARS:
            break
        kept.append(turn)
    kept.reverse()
    if len(kept) < len(turns):
        cut = len(turns) - len(kept)
        kept.insert(0, {"sender": "bot", "text": EARLIER_CUT.format(count=cut),
                        "timestamp": turns[cut]["timestamp"]})
    return kept


def _turns(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind == "user" and replayed(event):
            continue  # an offered request the bot put back: the customer did not send it now
        if kind == "user":
            text = clip(mask_sensitive(event.get("text") or ""), MAX_TEXT)
            turns.append({"sender": "customer", "text": text,
                          "timestamp": _iso(event.get("timestamp")),
                          "intent": _intent_of(event),
                          "emotion": (event.get("parse_data") or {}).get("emotion")})
        elif kind == "bot" and (event.get("text") or "").strip():
            handoff = (event.get("metadata") or {}).get("handoff") or {}
            agent = handoff.get("agent") if handoff.get("state") == "agent_message" else None
            turn = {"sender": "agent" if agent else "bot",
                    "text": clip(mask_sensitive(event["text"]), MAX_TEXT),
                    "timestamp": _iso(event.get("timestamp"))}
            if agent:
                turn["agent"] = agent
            turns.append(turn)
    return turns


def _topical_intent(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The customer's latest intent that says what the conversation is about."""
    users = [e for e in events if e.get("event") == "user"]
    for event in reversed(users):
        intent = _intent_of(event)
        topic = intent_topics().get(intent["name"] or "")
        if topic and topic not in ("greeting", "human"):
            return {**intent, "topic": topic}
    latest = _intent_of(users[-1]) if users else {"name": None, "confidence": None}
    return {**latest, "topic": intent_topics().get(latest["name"] or "")}


def collected_slots(tracker: Tracker) -> dict[str, Any]:
    """What the customer told the bot (order number, phone, payment method ...)."""
    return {name: clip(mask_sensitive(value), MAX_SLOT_CHARS) if isinstance(value, str)
            else value
            for name, value in tracker.current_slot_values().items()
            if value not in (None, "", []) and name not in HIDDEN_SLOTS}


def summary(reason: Reason, intent: dict[str, Any], emotion: dict[str, Any],
            slots: dict[str, Any], last_text: str) -> str:
    """A few lines in Chinese an agent reads before the transcript."""
    parts = [f"转人工原因：{REASON_LABELS[reason]}。"]
    if intent.get("topic"):
        # Agents read the topic in Chinese; the intent's name and the classifier's
        # confidence are the bot's business (only "not sure" is worth telling).
        confidence = intent.get("confidence")
        unsure = "（机器人不太确定）" if confidence is not None and confidence < UNSURE_BELOW \
            else ""
        parts.append(f"咨询：{TOPIC_NAMES.get(intent['topic'], '其他')}{unsure}。")
    details = "，".join(f"{SLOT_LABELS[k]} {v}" for k, v in slots.items()
                       if k in SUMMARY_SLOTS)
    if details:
        parts.append(f"已提供：{details}。")
    latest, peak = emotion["latest"], emotion["peak"]
    mood = f"情绪：{EMOTION_LABELS.get(latest['label'], latest['label'])}"
    if peak.get("label") not in (None, "calm") and peak is not latest:
        mood += f"，最强烈时{EMOTION_LABELS.get(peak['label'], peak['label'])}"
    parts.append(mood + "。")
    if last_text:
        short = last_text if len(last_text) <= 60 else last_text[:60] + "…"
        parts.append(f"客户最后说：「{short}」")
    return "".join(parts)


def build_payload(tracker: Tracker, reason: Reason, priority: str) -> dict[str, Any]:
    """The handoff payload of the conversation, as the service's POST /api/v1/handoffs takes
    it (without the idempotency key, which travels as a header)."""
    events = tracker.events
    assessment = assess(customer_turns(events))
    latest = tracker.latest_message.get("emotion") or assessment.latest
    peak = {k: assessment.peak.get(k) for k in ("label", "score", "text")}
    peak["text"] = clip(mask_sensitive(peak.get("text") or ""), 200)
    emotion = {
        "latest": {"label": latest.get("label", "calm"), "score": latest.get("score", 0.0)},
        "peak": peak,
        "frustration": assessment.frustration,
    }
    intent = _topical_intent(events)
    slots = collected_slots(tracker)
    customer_id, verified = customer_identity(tracker)
    turns = transcript(events)
    last_customer = next((t["text"] for t in reversed(turns) if t["sender"] == "customer"), "")
    return {
        "conversation_id": tracker.sender_id,
        "channel": tracker.get_latest_input_channel(),
        "customer_id": clip(customer_id, MAX_ID),
        "customer_id_verified": verified,
        "reason": reason.value,
        "priority": priority,
        "topic": intent.get("topic"),
        "intent": {"name": intent["name"], "confidence": intent["confidence"]},
        "emotion": emotion,
        "slots": slots,
        "summary": clip(summary(reason, intent, emotion, slots, last_customer), MAX_TEXT),
        "transcript": turns,
        # Epoch seconds as Rasa records them: later customer messages are "live" (exact, so
        # the turn that asked for the human is not counted twice).
        "requested_at": _latest_user_time(events) or time.time(),
        "bot_paused": True,
    }


def customer_identity(tracker: Tracker) -> tuple[str, bool]:
    """Who the customer is, and whether the channel vouches for it.

    WeChat signs its callbacks and names the sender's openid: verified. Anywhere else
    (REST, the widget) `customer_id`/`user_id` in the message metadata, or the sender id, is
    what the client chose to send: shown to agents, marked unverified."""
    metadata = tracker.latest_message.get("metadata") or {}
    channel = tracker.get_latest_input_channel()
    openid = (metadata.get("wechat") or {}).get("openid") if channel in VERIFIED_CHANNELS \
        else None
    if openid and tracker.sender_id == f"wechat_{openid}":
        return tracker.sender_id, True
    return str(metadata.get("customer_id") or metadata.get("user_id") or tracker.sender_id), \
        False


def _latest_user_time(events: list[dict[str, Any]]) -> float | None:
    """When the customer last wrote (an offered request the bot put back is not a message)."""
    return next((e.get("timestamp") for e in reversed(events)
                 if e.get("event") == "user" and not replayed(e)), None)


def _latest_user_message_id(events: list[dict[str, Any]]) -> str | None:
    """The id of the customer's latest message: the client's own (a REST client that retries
    sends the same one) or the one Rasa gave it."""
    return next((e.get("message_id") for e in reversed(events)
                 if e.get("event") == "user" and not replayed(e)), None)


def idempotency_key(tracker: Tracker) -> str:
    """One handoff per customer turn: the conversation and the message that caused it, so a
    retried action call never creates a second handoff, nor does a message processed again
    after the replica that first handled it died before saving the turn (same message id).
    Without a message id, the time of the turn. A conversation id or message id that an HTTP
    header cannot carry (not ASCII, or long) is replaced by its hash."""
    message_id = _latest_user_message_id(tracker.events)
    turn = message_id or str(int((_latest_user_time(tracker.events) or 0.0) * 1000))
    return f"{_header_safe(tracker.sender_id or '')}:{_header_safe(str(turn))}"


def _header_safe(value: str) -> str:
    """`value` when a header can carry it, else its hash."""
    if value.isascii() and value.isprintable() and len(value) <= 200:
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:40]


# --- the outbox ----------------------------------------------------------------------------

_worker_lock = threading.Lock()
_worker: threading.Thread | None = None


def outbox() -> Outbox:
    """The action server's outbox (HANDOFF_OUTBOX: a SQLite file, relative paths from the
    project root, or a database URL)."""
    return Outbox(ActionSettings.from_env(refuse=False).outbox_target())


def start_outbox_worker() -> None:
    """Retry the outbox in the background every HANDOFF_OUTBOX_RETRY_SECONDS (10 by default;
    0 turns it off), so a handoff is delivered even if nobody asks for a human again. It also
    deletes delivered rows older than HANDOFF_OUTBOX_KEEP_DAYS (7)."""
    global _worker
    interval = ActionSettings.from_env(refuse=False).outbox_retry_seconds
    with _worker_lock:
        if interval <= 0 or (_worker is not None and _worker.is_alive()):
            return
        _worker = threading.Thread(target=_retry_forever, args=(interval,),
                                   name="handoff-outbox", daemon=True)
        _worker.start()


def retry_once(box: Outbox, client: HandoffClient, keep_days: float) -> int:
    """One round of the worker: deliver what is pending, then purge old delivered rows."""
    delivered = box.flush(client) if box.pending() else 0
    purged = box.purge(keep_days)
    if purged:
        logger.info("outbox: %d delivered handoffs older than %s days deleted", purged,
                    keep_days)
    return delivered


def _retry_forever(interval: float) -> None:
    while True:
        time.sleep(interval)
        try:
            keep = ActionSettings.from_env(refuse=False).outbox_keep_days
            retry_once(outbox(), HandoffClient.from_env(), keep)
        except Exception:  # the worker must outlive any one failure
            logger.exception("handoff outbox retry failed")


# --- the hand-off step ---------------------------------------------------------------------

def in_service_hours(hours: str, now: datetime | None = None) -> bool:
    """Whether China time is inside a "每天 9:00-22:00" span (True when it cannot be read)."""
    match = re.search(r"(\d{1,2})[:：](\d{2})\s*[-~～至到]\s*(\d{1,2})[:：](\d{2})", hours or "")
    if not match:
        return True
    start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
    local = (now or datetime.now(tz=CHINA)).astimezone(CHINA)
    minutes = local.hour * 60 + local.minute
    return start_h * 60 + start_m <= minutes < end_h * 60 + end_m


def tell_queued(dispatcher: CollectingDispatcher, ticket: Ticket,
                service_hours: str | None = None, in_hours: bool | None = None) -> None:
    """Where the customer stands: queue place and expected wait; with nobody online, when
    someone will reply; a long wait, a message or a call-back instead of the number. The
    service files the same words (contracts.notices.queued_notice) in the handoff."""
    hours = str(load_policy().get("service_hours") or "") if service_hours is None \
        else service_hours
    inside = in_service_hours(hours) if in_hours is None else in_hours
    queued = queued_notice(ticket.position, ticket.eta_minutes, ticket.agents_online, hours,
                           inside)
    dispatcher.utter_message(text=queued.text,
                             json_message=handoff_state(ticket.position, queued.eta_minutes))


def hand_off(dispatcher: CollectingDispatcher, tracker: Tracker, reason: Reason,
             priority: str = "normal", client: HandoffClient | None = None,
             box: Outbox | None = None) -> list[dict[str, Any]]:
    """Send the conversation to the handoff service and tell the customer what happens next.

    Delivered: the queue message, and the bot pauses (the agent takes over). Not delivered:
    the handoff waits in the outbox, the customer hears so honestly, and the bot keeps
    answering until an agent joins. Refused for good (e.g. an unusable conversation id): it
    is dead-lettered, an error logged, and the customer told it did not go through.

    The customer's turn posts its own payload once (short timeout) and never delivers the
    outbox: that is the background worker's job, so one customer never waits for other
    conversations' backlog, nor for the worker.
    """
    start_outbox_worker()
    client = client or HandoffClient.from_env()
    box = box or outbox()
    hours = str(load_policy().get("service_hours") or "")
    recorded = [SlotSet("handoff_reason", reason.value), SlotSet("handoff_priority", priority)]
    if priority in ("urgent", "high"):
        dispatcher.utter_message(response="utter_handoff_priority")
    if box.pending(tracker.sender_id):
        # An earlier request of this conversation waits in the outbox: the worker delivers
        # it (the service then tells the customer their place); no second one.
        dispatcher.utter_message(response="utter_handoff_still_pending", service_hours=hours,
                                 json_message=handoff_state())
        return recorded
    payload = build_payload(tracker, reason, priority)
    # The service words the "queued" notice from these, as tell_queued does below.
    inside = in_service_hours(hours)
    payload.update(service_hours=hours, in_service_hours=inside)
    key = idempotency_key(tracker)
    try:
        ticket = client.create(payload, key)
    except HandoffRejected as error:
        box.add(key, payload)
        box.mark_dead(key, str(error))
        logger.error("handoff %s refused by the service for good, dead-lettered: %s", key, error)
        dispatcher.utter_message(response="utter_handoff_rejected")
        return recorded
    except HandoffUnavailable as error:
        logger.warning("handoff %s kept in the outbox: %s", key, error)
        box.add(key, {**payload, "bot_paused": False})
        dispatcher.utter_message(response="utter_handoff_unavailable", service_hours=hours,
                                 json_message=handoff_state())
        return recorded
    tell_queued(dispatcher, ticket, hours, inside)
    # Paused, the bot never reaches action_listen by itself; recording it keeps the turn
    # structure Rasa's rules expect, so a "/restart" while waiting restarts the conversation
    # (without it Rasa answered with its fallback and repeated the handoff).
    return [*recorded, ConversationPaused(), ActionExecuted("action_listen")]


class HandoffAction(Action, ABC):
    """Base of the actions that hand off: the outbox worker runs in the action server from
    the moment these are registered, so a handoff kept before a restart is still delivered."""

    def __init__(self) -> None:
        """Start the outbox retries."""
        super().__init__()
        start_outbox_worker()

    @abstractmethod
    def name(self) -> str:
        """Name used in the domain (abstract, so rasa-sdk skips this base)."""
