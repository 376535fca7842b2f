"""The one JSON error body every service answers with.

    {"error": "order_not_found", "message": "No order 573262229751.", "details": {...}}

`error` is a machine-readable code (clients choose what to do or say from it), `message` a
short explanation for developers and the agents' console (never shown to customers as is),
`details` optional facts behind the error (the shop API's 409s: the order's `state`, the
`refundable` amount). The handoff service's and the shop API's OpenAPI documents declare the
same `Error` schema (tests/test_error_body.py checks them against ERROR_FIELDS).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Field name -> whether every error body has it.
ERROR_FIELDS = {"error": True, "message": True, "details": False}


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
    """The error body of `code` with `message` (and `details` when there are any)."""
    body: dict[str, Any] = {"error": code, "message": message}
    if details:
        body["details"] = dict(details)
    return body


def error_code(body: object) -> str | None:
    """The code of an error body, or None when `body` is not one (a proxy's HTML page)."""
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) and code else None
