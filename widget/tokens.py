"""Widget session tokens: proof that a browser holds the session it names.

A conversation id is not a secret (agents, logs and the handoff queue show it). The Rasa
server's widget channel mints a session id and gives the browser its token, an HMAC of the id
under WIDGET_SESSION_SECRET; resuming the session over socket.io, reading its history and
rating it all need the token. The widget server checks it with the same secret.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from contracts.profile import refuse_dev_secret

DEV_SECRET = "dev-only-widget-secret"
HEADER = "X-Session-Token"


def secret_from_env(environ: Mapping[str, str] = os.environ) -> str:
    """WIDGET_SESSION_SECRET; the development default is refused in production
    (contracts.profile: APP_PROFILE, or the older APP_ENV, set to production)."""
    secret = environ.get("WIDGET_SESSION_SECRET") or DEV_SECRET
    refuse_dev_secret("WIDGET_SESSION_SECRET", secret, environ)
    return secret


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
