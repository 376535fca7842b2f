"""Agent passwords (scrypt with a per-user salt), login session tokens (only their hash is
stored) and the bot's bearer token check."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

_N, _R, _P = 2**14, 8, 1
MIN_PASSWORD_CHARS = 8


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash`, salt and hash base64."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(["scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    """Whether the password matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                  r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash of a random password, computed once: an unknown user's login is checked against
    it, so it costs one scrypt run like a known user's."""
    return hash_password(secrets.token_urlsafe(16))


def new_session_token() -> str:
    """A random session token for the console (kept by the browser, hashed in the store)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a presented secret with the expected one."""
    # Header values may hold undecodable bytes (kept as surrogates): never an error, no match.
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
