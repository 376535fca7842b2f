"""What the Rasa server's widget channel (bot/channels/widget.py) and the widget server
(widget/) share: session ids and their tokens, and the shape of a bot message on the widget.

Session tokens are proof that a browser holds the session it names.

A conversation id is not a secret (agents, logs and the handoff queue show it). The Rasa
server's widget channel mints a session id and gives the browser its token, an HMAC of the id
under WIDGET_SESSION_SECRET; resuming the session over socket.io, reading its history and
rating it all need the token. The widget server checks it with the same secret.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from contracts.profile import DEV_SECRETS
from contracts.settings import ServiceSettings

DEV_SECRET = DEV_SECRETS["WIDGET_SESSION_SECRET"]
HEADER = "X-Session-Token"
SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
_MEDIA_KEYS = ("image", "attachment", "elements")


class SessionSecret(ServiceSettings):
    """The setting the Rasa server's widget channel reads (the widget server has it in
    widget.app.WidgetConfig)."""

    secret: str = Field(DEV_SECRET, env="WIDGET_SESSION_SECRET", secret=True)


def secret_from_env(environ: Mapping[str, str] | None = None) -> str:
    """WIDGET_SESSION_SECRET; the development default is refused in production
    (contracts.profile: APP_PROFILE, or the older APP_ENV, set to production)."""
    return SessionSecret.from_env(environ).secret


def session_token(secret: str, session_id: str) -> str:
    """The token of a session id."""
    return hmac.new(secret.encode(), session_id.encode(), hashlib.sha256).hexdigest()[:40]


def token_matches(secret: str, session_id: str, token: object) -> bool:
    """Whether `token` is the token of `session_id` (constant time)."""
    return isinstance(token, str) and len(token) <= 64 and token.isascii() and \
        hmac.compare_digest(session_token(secret, session_id), token)


def bearer_matches(header: str | None, expected: str) -> bool:
    """Whether an `Authorization: Bearer <token>` header carries `expected` (constant time).

    Never an error: a header with bytes that are not UTF-8 (Sanic keeps them as lone
    surrogates) is simply no match. An empty `expected` matches nothing."""
    given = (header or "").removeprefix("Bearer ").strip()
    return bool(expected and given) and hmac.compare_digest(
        given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


def is_session_id(value: Any) -> bool:
    """Whether `value` is a session id this channel could have issued."""
    return isinstance(value, str) and bool(SESSION_ID.match(value))


def widget_message(message: dict[str, Any]) -> dict[str, Any]:
    """The one `bot_uttered` payload for a bot message (`BotUttered.message()` shape)."""
    out: dict[str, Any] = {"text": message.get("text") or ""}
    buttons = message.get("quick_replies") or message.get("buttons") or []
    if buttons:
        out["quick_replies"] = [
            {"title": str(button.get("title", "")), "payload": str(button.get("payload", "")),
             **({"url": str(button["url"])} if button.get("url") else {})}
            for button in buttons if isinstance(button, dict)
        ]
    custom = message.get("custom")
    if isinstance(custom, dict) and set(custom) == {"data"} and isinstance(custom["data"], dict):
        custom = custom["data"]  # the {"data": ...} wrapping Rasa's stock channel needs
    custom = dict(custom) if isinstance(custom, dict) else {}
    if isinstance(message.get("handoff"), dict):  # metadata is merged into the message
        custom.setdefault("handoff", message["handoff"])
    if custom:
        out["custom"] = custom
    for key in _MEDIA_KEYS:
        if message.get(key):
            out[key] = message[key]
    if message.get("utter_action"):
        out["response"] = message["utter_action"]
    if message.get("timestamp"):
        out["timestamp"] = message["timestamp"]
    return out
