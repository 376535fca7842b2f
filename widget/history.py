"""A widget conversation's messages, rebuilt from the events of Rasa's tracker."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from contracts.widget import widget_message

MAX_MESSAGES = 300
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def conversation_messages(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Customer and bot messages in the shape the widget renders live (newest last).

    Empty when the conversation never had a widget (socket.io) message, so the endpoint shows
    nothing of conversations held on other channels.
    """
    messages: list[dict[str, Any]] = []
    button_titles: dict[str, str] = {}
    from_widget = False
    for event in events:
        if not isinstance(event, dict):
            continue
        if event.get("event") == "user":
            from_widget = from_widget or event.get("input_channel") == "socketio"
            messages.append(_customer_message(event, button_titles))
        elif event.get("event") == "bot":
            message = _bot_message(event)
            button_titles.update(
                {b["payload"]: b["title"] for b in message.get("quick_replies", [])}
            )
            messages.append(message)
    return messages[-MAX_MESSAGES:] if from_widget else []


def _customer_message(event: dict[str, Any], button_titles: dict[str, str]) -> dict[str, Any]:
    """A customer message; a button click shows the button's title, as it did live."""
    text = event.get("text") or ""
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    shown = metadata.get("display_text")
    if not isinstance(shown, str) or not shown:
        shown = button_titles.get(text, text)
    message: dict[str, Any] = {"from": "customer", "text": shown,
                               "timestamp": event.get("timestamp")}
    client_id = metadata.get("client_id")
    if isinstance(client_id, str) and _CLIENT_ID.match(client_id):
        message["client_id"] = client_id
    return message


def _bot_message(event: dict[str, Any]) -> dict[str, Any]:
    """A bot (or agent) message, as `WidgetSocketIOOutput` sends it."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    message = {**data, "text": event.get("text") or "", "timestamp": event.get("timestamp")}
    for key in ("handoff", "utter_action"):
        if key in metadata:
            message[key] = metadata[key]
    return {"from": "bot", **widget_message(message)}
