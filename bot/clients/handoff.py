"""Client of the handoff service (contract: handoff/openapi.yaml) for the bot's actions."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import requests

logger = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8000"
DEV_TOKEN = "dev-only-handoff-token"


class HandoffUnavailable(Exception):  # noqa: N818 (reads better at the call sites)
    """The handoff service did not take the handoff: down, timeout, 5xx or a refusal."""


@dataclass(frozen=True)
class Ticket:
    """The service's answer to a new handoff: where the customer stands."""

    handoff_id: str
    status: str
    position: int | None
    eta_minutes: int | None
    agents_online: int
    created: bool


class HandoffClient:
    """Posts handoffs with an idempotency key; a short timeout, no retries here (the
    action's outbox retries, so the customer never waits long)."""

    def __init__(self, base_url: str, token: str, timeout: float = 3.0) -> None:
        """Keep the service's URL and the bot's token."""
        self.base_url, self.token, self.timeout = base_url.rstrip("/"), token, timeout

    @classmethod
    def from_env(cls) -> HandoffClient:
        """Configured by HANDOFF_URL, HANDOFF_API_TOKEN and HANDOFF_TIMEOUT."""
        return cls(os.environ.get("HANDOFF_URL") or DEFAULT_URL,
                   os.environ.get("HANDOFF_API_TOKEN") or DEV_TOKEN,
                   float(os.environ.get("HANDOFF_TIMEOUT") or 3.0))

    def create(self, payload: dict[str, Any], key: str) -> Ticket:
        """POST /api/v1/handoffs; the same key never creates a second handoff."""
        try:
            resp = requests.post(
                f"{self.base_url}/api/v1/handoffs", json=payload, timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": key})
        except requests.RequestException as error:
            raise HandoffUnavailable(f"handoff service unreachable: {error}") from error
        if resp.status_code not in (200, 201):
            raise HandoffUnavailable(f"handoff service answered {resp.status_code}: "
                                     f"{resp.text[:300]}")
        try:
            data = resp.json()
            return Ticket(handoff_id=data["id"], status=data["status"],
                          position=data.get("position"), eta_minutes=data.get("eta_minutes"),
                          agents_online=int(data.get("agents_online") or 0),
                          created=resp.status_code == 201)
        except (ValueError, KeyError, TypeError) as error:
            raise HandoffUnavailable(f"malformed answer from the handoff service: {error}") \
                from error
