"""The one error type of the shop API; the app maps it to a status code and a JSON body."""
from __future__ import annotations

from typing import Any

from contracts.errors import error_body


class ShopError(Exception):
    """A request the shop cannot serve, with an HTTP status and a machine-readable code."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def body(self) -> dict[str, Any]:
        """The JSON error body shared by every endpoint and service (contracts.errors)."""
        return error_body(self.code, self.message, self.details)


def invalid(message: str) -> ShopError:
    """A malformed request: bad JSON, a missing or badly formed field."""
    return ShopError(400, "invalid_request", message)
