"""The handoff payload (contract in ../shared/design.md): its enums and its validation."""
from __future__ import annotations

import json
import math
import time
from datetime import datetime, timezone
from typing import Any

from contracts.handoff import MAX_ID, MAX_TEXT, PRIORITIES, REASONS
from contracts.masking import mask_sensitive

SENDERS = ("customer", "bot", "agent")
MAX_TRANSCRIPT = 2000
EARLIEST = 946684800.0  # 2000-01-01T00:00:00Z
FUTURE_SLACK = 86400.0  # clocks of the bot and the service may differ a little


class PayloadError(ValueError):
    """The request body is not a valid handoff payload; the message says what is wrong."""


def to_epoch(value: Any, field: str) -> float:
    """A timestamp given as epoch seconds or ISO 8601 (naive means UTC), between 2000 and a
    day from now: anything else would poison every view that shows it."""
    if isinstance(value, bool):
        raise PayloadError(f"{field}: not a timestamp")
    if isinstance(value, (int, float)) and math.isfinite(value):
        epoch = float(value)
    elif isinstance(value, str) and len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as error:
            raise PayloadError(f"{field}: not an ISO 8601 timestamp") from error
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        epoch = parsed.timestamp()
    else:
        raise PayloadError(f"{field}: not a timestamp")
    if not EARLIEST <= epoch <= time.time() + FUTURE_SLACK:
        raise PayloadError(f"{field}: outside 2000-01-01 .. now")
    return epoch


def iso(epoch: float | None) -> str | None:
    """An epoch time as ISO 8601 in UTC."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="milliseconds")


def _text(data: dict[str, Any], field: str, required: bool = True, limit: int = MAX_TEXT) -> str:
    value = data.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise PayloadError(f"{field}: a non-empty string is required")
    if len(value) > limit:
        raise PayloadError(f"{field}: longer than {limit} characters")
    return value


def validate_payload(data: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Check a handoff payload; returns the handoff's columns and its transcript rows."""
    if not isinstance(data, dict):
        raise PayloadError("the body must be a JSON object")
    conversation_id = _text(data, "conversation_id", limit=MAX_ID)
    reason = data.get("reason")
    if not isinstance(reason, str) or reason not in REASONS:
        raise PayloadError(f"reason: one of {', '.join(REASONS)}")
    priority = data.get("priority", "normal")
    if not isinstance(priority, str) or priority not in PRIORITIES:
        raise PayloadError(f"priority: one of {', '.join(PRIORITIES)}")
    for field in ("intent", "emotion", "slots"):
        if data.get(field) is not None and not isinstance(data[field], dict):
            raise PayloadError(f"{field}: must be an object")
    transcript = data.get("transcript")
    if not isinstance(transcript, list) or len(transcript) > MAX_TRANSCRIPT:
        raise PayloadError(f"transcript: a list of at most {MAX_TRANSCRIPT} turns is required")
    rows = [_turn(turn, index) for index, turn in enumerate(transcript)]
    requested_at = (to_epoch(data["requested_at"], "requested_at") if data.get("requested_at")
                    is not None else max((r["timestamp"] for r in rows), default=0.0))
    fields = {
        "conversation_id": conversation_id,
        "channel": _text(data, "channel", required=False, limit=64) or None,
        "customer_id": _text(data, "customer_id", required=False, limit=MAX_ID) or None,
        "reason": reason,
        "priority": priority,
        "topic": _text(data, "topic", required=False, limit=64) or None,
        "summary": mask_sensitive(_text(data, "summary", required=False, limit=MAX_TEXT)),
        "bot_paused": bool(data.get("bot_paused", True)),
        "requested_at": requested_at,
    }
    return fields, rows


def _turn(turn: Any, index: int) -> dict[str, Any]:
    field = f"transcript[{index}]"
    if not isinstance(turn, dict):
        raise PayloadError(f"{field}: must be an object")
    if not isinstance(turn.get("sender"), str) or turn["sender"] not in SENDERS:
        raise PayloadError(f"{field}.sender: one of {', '.join(SENDERS)}")
    text = turn.get("text")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise PayloadError(f"{field}.text: a string of at most {MAX_TEXT} characters")
    meta = {k: turn[k] for k in ("intent", "emotion", "agent") if turn.get(k) is not None}

    return {"sender": turn["sender"], "text": mask_sensitive(text),
            "timestamp": to_epoch(turn.get("timestamp"), f"{field}.timestamp"),
            "meta": json.dumps(meta, ensure_ascii=False)}
