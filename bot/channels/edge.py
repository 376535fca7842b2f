"""The Rasa server's edge: what every customer channel checks before a message reaches Rasa.

One place for the rules, used by the REST, widget and WeChat channels and by a middleware
that guards Rasa's own HTTP API:

- ids: a sender id is 1-128 characters of [A-Za-z0-9_.:@-] (a lone surrogate or a NUL would
  make the SQL tracker store raise, and Rasa 3.6 exits on that error);
- texts: valid Unicode only; control and invisible format characters (NUL, zero-width
  spaces, direction marks) are removed; an empty message is refused; a very long one gets a
  polite answer instead of a minute of CPU;
- typed commands (`/intent{"entity": "value"}`): only intents of the domain other than Rasa's
  internal ones, with short scalar entity values; anything else is read as plain text;
- volume: per-sender and per-address sliding-window rate limits (`RateLimiter`);
- bodies: JSON objects of bounded size and depth (`parse_json_object`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import secrets
import threading
import time
import unicodedata
from collections import deque
from functools import lru_cache
from typing import Any

import redis

from bot.domain_files import load_domain, names
from bot.settings import RasaSettings
from contracts.http_input import InputError, is_valid_unicode, load_json

logger = logging.getLogger(__name__)

SENDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
MAX_MESSAGE_CHARS = 1000
# JSON clients often escape Chinese (\uXXXX: 6 bytes a character): room for ~10,000 characters.
MAX_BODY_BYTES = 64 * 1024
MAX_ENTITY_CHARS = 100
# Intents Rasa handles itself: a customer typing them would reset or corrupt the session.
INTERNAL_INTENTS = frozenset({"session_start", "back", "nlu_fallback"})
# Rasa's default intents a customer may type: /restart starts the conversation over.
TYPED_DEFAULT_INTENTS = frozenset({"restart"})
TYPED_COMMAND = re.compile(r"^/([A-Za-z_][A-Za-z0-9_/]*)(\{.*\})?\s*$", re.DOTALL)
KEEP_CONTROLS = {"\n", "\t"}

TOO_LONG = ("您的消息有点长，我一次最多能看 {limit} 个字。麻烦把问题分成几条短一点的消息发给我，"
            "或者直接说说您遇到的主要问题。")
TOO_FAST = "您发送得有点快，请稍等几秒再发，我会一条一条为您处理。"


class EdgeError(InputError):
    """A request refused at the edge, told in Chinese (customers' clients show it)."""


CHINESE_ERRORS = {
    "payload_too_large": f"请求体不能超过 {MAX_BODY_BYTES} 字节。",
    "invalid_json": "请求体必须是合法的 JSON 对象。",
    "not_an_object": "请求体必须是 JSON 对象。",
    "invalid_encoding": "请求体必须是 UTF-8 编码。",
    "invalid_text": "请求中含有无效字符（孤立代理项或 NUL）。",
}


def check_sender(value: Any, refused: tuple[re.Pattern[str], ...] = ()) -> str:
    """A sender id the tracker store can keep, or EdgeError(400)."""
    if not isinstance(value, str) or not value:
        raise EdgeError(400, "invalid_sender", "sender 必须是 1-128 个字符的字符串。")
    if not SENDER_ID.match(value):
        raise EdgeError(400, "invalid_sender",
                        "sender 只能包含英文字母、数字和 _ . : @ -，长度 1-128。")
    if any(pattern.match(value) for pattern in refused):
        raise EdgeError(400, "invalid_sender", "这个 sender 属于其他渠道，不能通过本接口使用。")
    return value


def clean_text(value: str) -> str:
    """A message without control or invisible format characters, NFC-normalised."""
    kept = (char for char in value
            if char in KEEP_CONTROLS or unicodedata.category(char) not in ("Cc", "Cf", "Cs"))
    return unicodedata.normalize("NFC", "".join(kept)).strip()


def check_message(value: Any) -> str:
    """The text of a customer message, cleaned, or EdgeError(400). Length is checked apart
    (`is_too_long`): an over-long message gets an answer, not an error."""
    if not isinstance(value, str):
        raise EdgeError(400, "invalid_message", "message 必须是字符串。")
    if not is_valid_unicode(value):
        raise EdgeError(400, "invalid_message", "message 含有无效的字符编码（孤立代理项）。")
    text = clean_text(value)
    if not text:
        raise EdgeError(400, "empty_message", "message 不能为空。")
    return defuse_command(text)


def is_too_long(text: str) -> bool:
    """Whether a message is longer than the bot reads."""
    return len(text) > MAX_MESSAGE_CHARS


def too_long_reply() -> str:
    """What the customer is told about an over-long message."""
    return TOO_LONG.format(limit=MAX_MESSAGE_CHARS)


@lru_cache(maxsize=1)
def domain_intents() -> frozenset[str]:
    """The intents of the domain (the files under domain/, as Rasa is given them)."""
    return frozenset(names(load_domain().get("intents")))


def defuse_command(text: str) -> str:
    """A typed `/intent{...}` passed on only when the bot's own buttons could have sent it.

    Allowed: an intent of the domain (not an internal one) and an object of short strings or
    numbers as entities. Anything else loses its leading slashes and is read as text."""
    if not text.startswith("/"):
        return text
    match = TYPED_COMMAND.match(text)
    intent = match.group(1) if match else ""
    base = intent.split("/")[0]
    allowed = (domain_intents() | TYPED_DEFAULT_INTENTS) - INTERNAL_INTENTS
    if match and base in allowed:
        if match.group(2) is None or _scalar_entities(match.group(2)):
            return text
    return text.lstrip("/").strip() or "你好"


def _scalar_entities(raw: str) -> bool:
    try:
        entities = json.loads(raw)
    except ValueError:
        return False
    return isinstance(entities, dict) and len(entities) <= 5 and all(
        isinstance(key, str) and len(key) <= 40 and not isinstance(value, bool)
        and isinstance(value, (str, int, float)) and len(str(value)) <= MAX_ENTITY_CHARS
        for key, value in entities.items())


def parse_json_object(raw: bytes | None, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """A request body that must be a JSON object of bounded size and depth, or EdgeError."""
    try:
        return load_json(raw, max_bytes)
    except InputError as error:
        code = "invalid_json" if error.code == "not_an_object" else error.code
        raise EdgeError(error.status, code, CHINESE_ERRORS.get(error.code, error.message)) \
            from error


class RateLimiter:
    """Sliding-window limits per key (a sender id, a client address), in process memory:
    one Rasa process (`make run`); replicas share theirs in Redis (SharedRateLimiter)."""

    def __init__(self, limit: int, window_seconds: float, max_keys: int = 100_000) -> None:
        """Allow `limit` hits per key in any `window_seconds`."""
        self.limit, self.window, self.max_keys = limit, window_seconds, max_keys
        self.hits: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Record a hit of `key` and say whether it is within the limit."""
        now = time.monotonic() if now is None else now
        with self.lock:
            if len(self.hits) >= self.max_keys:
                self._forget_idle(now)
            hits = self.hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def _forget_idle(self, now: float) -> None:
        self.hits = {key: hits for key, hits in self.hits.items()
                     if hits and hits[-1] > now - self.window}
        if len(self.hits) >= self.max_keys:  # a spray of fresh keys: start over, bounded
            self.hits.clear()


class SharedRateLimiter:
    """The same limits kept in Redis, so that several Rasa replicas count one customer's
    messages together (nginx may send them to any replica): a sliding log per key in a sorted
    set. Refused attempts are counted too, so a client that keeps flooding stays refused.
    When Redis does not answer, the replica's own window (RateLimiter) decides meanwhile."""

    def __init__(self, limit: int, window_seconds: float, client: Any, prefix: str) -> None:
        self.limit, self.window, self.client, self.prefix = limit, window_seconds, client, prefix
        self.local = RateLimiter(limit, window_seconds)
        self._warned = 0.0

    def allow(self, key: str, now: float | None = None) -> bool:
        """Record a hit of `key` and say whether it is within the limit."""
        now = time.time() if now is None else now
        name = f"{self.prefix}:{hashlib.sha256(key.encode('utf-8', 'replace')).hexdigest()}"
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.zremrangebyscore(name, 0, now - self.window)
            pipe.zadd(name, {f"{now:.6f}:{secrets.token_hex(4)}": now})
            pipe.zcard(name)
            pipe.expire(name, math.ceil(self.window))
            count = pipe.execute()[2]
        except redis.RedisError as error:
            if time.monotonic() - self._warned > 60:
                self._warned = time.monotonic()
                logger.warning("rate limits: Redis unavailable (%s); this replica's own "
                               "window decides meanwhile", error)
            return self.local.allow(key)
        return count <= self.limit


def limiters(settings: RasaSettings | None = None) -> tuple[RateLimiter | SharedRateLimiter,
                                                           RateLimiter | SharedRateLimiter]:
    """The per-sender and per-address limiters of the customer channels (RATE_LIMIT_* vars:
    bot.settings.RasaSettings, by default from the environment), shared through Redis when
    RATE_LIMIT_REDIS_URL or REDIS_URL is set (several replicas)."""
    settings = settings or RasaSettings.from_env(refuse=False)
    per_sender, per_address = settings.rate_limit_per_sender, settings.rate_limit_per_address
    if not settings.rate_limit_redis_url:
        return RateLimiter(per_sender, 60.0), RateLimiter(per_address, 60.0)
    client = redis.Redis.from_url(settings.rate_limit_redis_url, socket_timeout=0.5,
                                  socket_connect_timeout=0.5)
    return (SharedRateLimiter(per_sender, 60.0, client, "shop:rate:sender"),
            SharedRateLimiter(per_address, 60.0, client, "shop:rate:address"))
