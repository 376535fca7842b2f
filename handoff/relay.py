"""What the customer sees: agent messages and handoff notices, relayed to the customer's own
channel through Rasa's HTTP API, and the bot paused or resumed in the same call."""
from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

import aiohttp

logger = logging.getLogger(__name__)


class RelayError(Exception):
    """Rasa could not be reached or refused the events."""


def custom_state(state: str, agent: str | None = None, position: int | None = None,
                 eta_minutes: int | None = None) -> dict[str, Any]:
    """The `custom` payload of a handoff message on the customer's channel."""
    return {"handoff": {"state": state, "position": position, "eta_minutes": eta_minutes,
                        "agent": agent}}


def bot_event(text: str, custom: dict[str, Any], handoff_id: str) -> dict[str, Any]:
    """A bot message event carrying the handoff state as `custom` and in its metadata."""
    return {"event": "bot", "text": text, "data": {"custom": custom},
            "metadata": {"handoff": {**custom["handoff"], "handoff_id": handoff_id}}}


PAUSE = [{"event": "pause"}]
LISTEN = [{"event": "action", "name": "action_listen"}]
RESUME = [{"event": "resume"}, *LISTEN]
# Actions the bot may not run by itself right after an agent handed back: they would hand the
# conversation off again, or count a miss the customer never made.
NOT_AFTER_HAND_BACK = {"action_request_human", "action_escalate", "action_fallback",
                       "action_default_fallback", "action_restart", "action_session_start"}


class RasaRelay:
    """Appends events to a conversation through Rasa's HTTP API and sends the bot messages
    among them to the channel the customer last wrote from (`output_channel=latest`).

    For push channels (socket.io, messaging apps) that is the customer's chat. The REST
    channel answers only inside its own request, so REST integrations read the same messages
    from `GET /api/v1/conversations/{id}/messages` (see handoff/README.md)."""

    def __init__(self, base_url: str, token: str, timeout: float) -> None:
        """Keep the settings; the HTTP session is opened on first use."""
        self.base_url, self.token = base_url, token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        """Append `events` and execute their side effects; raises RelayError."""
        url = (f"{self.base_url}/conversations/{quote(conversation_id, safe='')}/tracker/events"
               "?output_channel=latest&execute_side_effects=true")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(url, json=events, params={"token": self.token}) as resp:
                if resp.status >= 300:
                    body = (await resp.text())[:300]
                    raise RelayError(f"Rasa answered {resp.status}: {body}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise RelayError(f"Rasa unreachable at {self.base_url}: {error!r}") from error

    async def continue_conversation(self, conversation_id: str, max_actions: int = 5,
                                    skip: set[str] | frozenset[str] = frozenset(NOT_AFTER_HAND_BACK)
                                    ) -> list[dict[str, Any]]:
        """Let the bot answer the customer's last message after a resume: predict the next
        action and execute it (to the customer's channel) until the bot would listen, at most
        `max_actions`; then record action_listen. Returns the messages Rasa collected (REST
        customers; push channels get them directly). Raises RelayError."""
        base = f"{self.base_url}/conversations/{quote(conversation_id, safe='')}"
        collected: list[dict[str, Any]] = []
        for _ in range(max_actions):
            prediction = await self._post(f"{base}/predict", None)
            scores = prediction.get("scores") or []
            action = scores[0].get("action") if scores else None
            if not action or action == "action_listen" or action in skip:
                break
            done = await self._post(f"{base}/execute?output_channel=latest",
                                    {"name": action, "policy": prediction.get("policy"),
                                     "confidence": prediction.get("confidence")})
            collected.extend(m for m in done.get("messages") or [] if isinstance(m, dict))
        await self.send(conversation_id, LISTEN)
        return collected

    async def events(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's events (all sessions); raises RelayError."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        url = f"{self.base_url}/conversations/{quote(conversation_id, safe='')}/tracker"
        try:
            async with self._session.get(url, params={"token": self.token}) as resp:
                if resp.status >= 300:
                    raise RelayError(f"Rasa answered {resp.status}: {(await resp.text())[:300]}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise RelayError(f"Rasa unreachable at {self.base_url}: {error!r}") from error
        events = data.get("events") if isinstance(data, dict) else None
        return [e for e in events or [] if isinstance(e, dict)]

    async def _post(self, url: str, body: Any) -> dict[str, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(url, json=body, params={"token": self.token}) as resp:
                if resp.status >= 300:
                    raise RelayError(f"Rasa answered {resp.status}: {(await resp.text())[:300]}")
                data = await resp.json(content_type=None)
                return data if isinstance(data, dict) else {}
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise RelayError(f"Rasa unreachable at {self.base_url}: {error!r}") from error

    async def activity(self, conversation_id: str, activity: dict[str, Any]) -> bool:
        """Tell the customer's widget that the agent is typing or has read their messages
        (the widget channel's `agent_activity` route: nothing is stored in the conversation).
        Best effort: False when it did not get through."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        url = f"{self.base_url}/webhooks/socketio/agent_activity"
        try:
            async with self._session.post(url, json={"conversation_id": conversation_id,
                                                     **activity},
                                          headers={"Authorization": f"Bearer {self.token}"}
                                          ) as resp:
                return resp.status < 300
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            logger.info("agent activity for %s not sent: %r", conversation_id, error)
            return False

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
