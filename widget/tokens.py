"""Widget session tokens: proof that a browser holds the session it names.

A conversation id is not a secret (agents, logs and the handoff queue show it). The Rasa
server's widget channel mints a session id and gives the browser its token, an HMAC of the id
under WIDGET_SESSION_SECRET; resuming the session over socket.io, reading its history and
rating it all need the token. The widget server checks it with the same secret.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from pydantic import Field

from contracts.profile import DEV_SECRETS
from contracts.settings import ServiceSettings

DEV_SECRET = DEV_SECRETS["WIDGET_SESSION_SECRET"]
HEADER = "X-Session-Token"


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
