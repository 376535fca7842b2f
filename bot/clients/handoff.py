"""Client of the handoff service (contract: handoff/openapi.yaml) for the bot's actions."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests

from bot.settings import HANDOFF_URL, ActionSettings
from contracts.profile import is_production

logger = logging.getLogger(__name__)

DEFAULT_URL = HANDOFF_URL
# Answers that say "try again later": the service is down, busy or overloaded.
RETRYABLE_4XX = (408, 429)
# Answers that say the bot's own configuration is wrong (token, URL of another service).
CONFIG_ERRORS = (401, 403)


class HandoffUnavailable(Exception):  # noqa: N818 (reads better at the call sites)
    """The handoff service did not take the handoff now: down, timeout, 5xx, 408/429, or a
    configuration error (subclass). Worth delivering again later."""


class HandoffMisconfigured(HandoffUnavailable):
    """The service refused the bot's credentials (401/403), or the client refused to send the
    development token in production. Nothing is delivered until the configuration is fixed."""


class HandoffRejected(Exception):  # noqa: N818
    """The service refused this payload for good (4xx other than 401/403/408/429): sending it
    again can never succeed."""

    def __init__(self, status: int, message: str) -> None:
        """Keep the HTTP status with the message."""
        super().__init__(message)
        self.status = status


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

    def __init__(self, base_url: str, token: str, timeout: float = 3.0,
                 refusal: str | None = None) -> None:
        """Keep the service's URL and the bot's token; `refusal` (a configuration error)
        makes every call fail without sending anything."""
        self.base_url, self.token, self.timeout = base_url.rstrip("/"), token, timeout
        self.refusal = refusal

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> HandoffClient:
        """Configured by HANDOFF_URL, HANDOFF_API_TOKEN and HANDOFF_TIMEOUT. In the
        production profile (contracts.profile) the development token is refused: the client
        then sends nothing (handoffs wait in the outbox) and says why in the log."""
        settings = ActionSettings.from_env(env, refuse=False)
        refusal = None
        if is_production(env) and settings.secret_problem("handoff_api_token"):
            refusal = ("HANDOFF_API_TOKEN is missing or the development default; set the "
                       "handoff service's secret for production")
            logger.error("handoff client refuses to run: %s", refusal)
        return cls(settings.handoff_url, settings.handoff_api_token, settings.handoff_timeout,
                   refusal=refusal)

    def create(self, payload: dict[str, Any], key: str) -> Ticket:
        """POST /api/v1/handoffs; the same key never creates a second handoff.

        Raises HandoffUnavailable (retry later), its subclass HandoffMisconfigured (401/403:
        fix the configuration) or HandoffRejected (this payload can never be taken)."""
        if self.refusal:
            raise HandoffMisconfigured(self.refusal)
        try:
            resp = requests.post(
                f"{self.base_url}/api/v1/handoffs", json=payload, timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": key})
        except requests.RequestException as error:
            raise HandoffUnavailable(f"handoff service unreachable: {error}") from error
        if resp.status_code not in (200, 201):
            message = f"handoff service answered {resp.status_code}: {resp.text[:300]}"
            if resp.status_code in CONFIG_ERRORS:
                logger.error("handoff service refused the bot's credentials (check "
                             "HANDOFF_API_TOKEN and HANDOFF_URL): %s", message)
                raise HandoffMisconfigured(message)
            if 400 <= resp.status_code < 500 and resp.status_code not in RETRYABLE_4XX:
                raise HandoffRejected(resp.status_code, message)
            raise HandoffUnavailable(message)
        try:
            data = resp.json()
            return Ticket(handoff_id=data["id"], status=data["status"],
                          position=data.get("position"), eta_minutes=data.get("eta_minutes"),
                          agents_online=int(data.get("agents_online") or 0),
                          created=resp.status_code == 201)
        except (ValueError, KeyError, TypeError) as error:
            raise HandoffUnavailable(f"malformed answer from the handoff service: {error}") \
                from error
