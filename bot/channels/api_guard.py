"""A request middleware in front of the whole Rasa server, HTTP API included.

Rasa 3.6 answers 500 (or exits) on bodies it does not expect: a non-object or deeply nested
JSON body on `/model/parse`, a conversation id with a NUL or a lone surrogate (the SQL tracker
store raises, and Rasa takes that error for a missing schema and exits). The REST channel's
blueprint registers this guard on the app it is mounted on (`GuardedBlueprint`), so every route
of the server is covered without patching Rasa.
"""
from __future__ import annotations

import json
import logging
import re
import unicodedata
from functools import partial
from typing import Any
from urllib.parse import unquote

from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.edge import EdgeError
from bot.rasa_patches import install as install_rasa_patches
from contracts.http_input import has_bad_string, is_valid_unicode, json_depth_ok
from contracts.logs import SANIC_LOGGERS, install_masking

MAX_API_BODY = 1024 * 1024
# Model uploads and training data are the only large bodies Rasa's API takes.
LARGE_BODY_PATHS = ("/model",)
MAX_LARGE_BODY = 64 * 1024 * 1024
MAX_CONVERSATION_ID = 255
# Routes of Rasa's HTTP API that take JSON (channels under /webhooks and /socket.io check theirs).
JSON_API_PATHS = ("/model/parse", "/conversations/")
CONVERSATION_PATH = re.compile(r"^/conversations/([^/]*)(/.*)?$")
# API routes whose JSON body must be an object (the tracker events route also takes a list).
OBJECT_BODY_PATHS = ("/model/parse", "/messages", "/execute", "/trigger_intent", "/predict")
_dumps = partial(json.dumps, ensure_ascii=False)


def _refuse(error: EdgeError) -> HTTPResponse:
    return response.json(error.body(), status=error.status, dumps=_dumps)


def check_conversation_id(raw: str) -> None:
    """A conversation id in a path: valid Unicode, no control characters, at most 255."""
    value = unquote(raw, errors="surrogateescape")
    if (not value or len(value) > MAX_CONVERSATION_ID or not is_valid_unicode(value)
            or any(unicodedata.category(char) in ("Cc", "Cs") for char in value)):
        raise EdgeError(400, "invalid_conversation_id",
                        "会话 ID 无效：需为 1-255 个可见字符。")


def check_api_body(request: Request) -> None:
    """Size, encoding, depth and shape of a JSON body sent to Rasa's HTTP API."""
    body = request.body or b""
    limit = MAX_LARGE_BODY if request.path.startswith(LARGE_BODY_PATHS) else MAX_API_BODY
    if len(body) > limit:
        raise EdgeError(413, "payload_too_large", f"请求体不能超过 {limit} 字节。")
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if not body or request.method not in ("POST", "PUT") or "yaml" in content_type:
        return
    if not request.path.startswith(JSON_API_PATHS) or (
            request.path.startswith("/model") and request.path != "/model/parse"):
        return  # channels check their own bodies; model files and training data are Rasa's
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise EdgeError(400, "invalid_encoding", "请求体必须是 UTF-8 编码。") from error
    if not json_depth_ok(text):
        raise EdgeError(400, "invalid_json", "JSON 嵌套过深。")
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise EdgeError(400, "invalid_json", "请求体不是合法的 JSON。") from error
    if has_bad_string(data):
        raise EdgeError(400, "invalid_text", "请求体含有无效字符（孤立代理项或 NUL）。")
    if request.path.endswith(OBJECT_BODY_PATHS) and not isinstance(data, dict):
        raise EdgeError(400, "invalid_json", "请求体必须是 JSON 对象。")
    check_api_shape(request.path, data)


def check_api_shape(path: str, data: Any) -> None:
    """The fields Rasa reads without checking, checked: texts, names and events."""
    if path == "/model/parse" or path.endswith("/messages"):
        if not isinstance(data.get("text"), str):
            raise EdgeError(400, "invalid_text", "text 必须是字符串。")
        if path.endswith("/messages") and not isinstance(data.get("sender", "user"), str):
            raise EdgeError(400, "invalid_sender", "sender 必须是字符串。")
    elif path.endswith("/trigger_intent"):
        if not isinstance(data.get("name"), str) or not isinstance(
                data.get("entities") or {}, dict):
            raise EdgeError(400, "invalid_intent", "name 必须是字符串，entities 必须是对象。")
    elif path.endswith("/tracker/events"):
        events = data if isinstance(data, list) else [data]
        if not all(isinstance(e, dict) and isinstance(e.get("event"), str) for e in events):
            raise EdgeError(400, "invalid_events", "每个事件都必须是带 event 字段的对象。")


async def guard(request: Request) -> HTTPResponse | None:
    """Refuse a request Rasa would answer with a 500 or die of; let the rest through."""
    try:
        match = CONVERSATION_PATH.match(request.path)
        if match:
            check_conversation_id(match.group(1))
        check_api_body(request)
    except EdgeError as error:
        return _refuse(error)
    return None


class GuardedBlueprint(Blueprint):
    """A blueprint that installs `guard` on the whole app it is registered with."""

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        """Register the routes and, once per app, the guard."""
        if not getattr(app.ctx, "api_guard", False):
            app.ctx.api_guard = True
            app.register_middleware(guard, "request")
            install_rasa_patches()  # Rasa 3.6.21 speed-ups (bot/rasa_patches.py)
            install_masking(logging.getLogger(), logging.getLogger("rasa"),
                            *(logging.getLogger(name) for name in SANIC_LOGGERS))
        super().register(app, options)
