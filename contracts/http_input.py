"""Bounded, valid JSON at a service's edge: size, UTF-8, nesting depth, shape, strings.

Python's `json` accepts a lone surrogate escape (`"\\ud800"`), which SQLite and PostgreSQL then
refuse deep inside a handler (a 500, or worse); it recurses on nesting until `RecursionError`.
Every service parses request bodies through `load_json`, which refuses both with a 4xx.
"""
from __future__ import annotations

import json
import unicodedata
from typing import Any

from contracts.errors import error_body

MAX_DEPTH = 20


class InputError(ValueError):
    """Input refused at the edge: HTTP status, machine-readable code, readable message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Keep what the client is told."""
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        """The error body every service answers with (contracts.errors)."""
        return error_body(self.code, self.message)


def is_valid_unicode(value: str) -> bool:
    """Whether `value` encodes to UTF-8 (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_clean_text(value: str) -> bool:
    """Valid Unicode without NUL (which PostgreSQL refuses in text)."""
    return "\x00" not in value and is_valid_unicode(value)


def is_printable_id(value: str, limit: int = 255) -> bool:
    """An id of 1-`limit` characters, valid Unicode, without control characters."""
    return (0 < len(value) <= limit and is_valid_unicode(value)
            and not any(unicodedata.category(char) == "Cc" for char in value))


def json_depth_ok(raw: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """Whether the brackets of a JSON text nest at most `limit` deep (checked before parsing,
    so a deeply nested body never reaches the recursive parser)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return False
        elif char in "]}":
            depth -= 1
    return True


def has_bad_string(data: Any) -> bool:
    """Whether any string (key or value) of a parsed JSON value has a lone surrogate or NUL."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not is_clean_text(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def load_json(raw: bytes | None, max_bytes: int, depth: int = MAX_DEPTH,
              want: type | tuple[type, ...] = dict) -> Any:
    """A JSON body of at most `max_bytes`, nested at most `depth`, every string clean, of
    type `want`; otherwise InputError (413 or 400)."""
    if raw is not None and len(raw) > max_bytes:
        raise InputError(413, "payload_too_large", f"The body is larger than {max_bytes} bytes.")
    if not raw:
        raise InputError(400, "invalid_json", "The body must be JSON.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(400, "invalid_encoding", "The body must be UTF-8.") from error
    if not json_depth_ok(text, depth):
        raise InputError(400, "invalid_json", "The JSON is nested too deeply.")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise InputError(400, "invalid_json", "The body is not valid JSON.") from error
    if has_bad_string(data):
        raise InputError(400, "invalid_text",
                         "The body holds an invalid character (lone surrogate or NUL).")
    if not isinstance(data, want):
        raise InputError(400, "not_an_object", "The body must be a JSON object.")
    return data
