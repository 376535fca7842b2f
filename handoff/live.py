"""Live updates for the agent consoles: an in-process hub of server-sent-event subscribers.

Every change the service makes or reads (a new handoff, a claim, a hand back, a customer or
agent message) is published as `(kind, {"handoff_id": ..., ...})`; each open console stream
gets it at once and fetches what changed. One service process owns the store and the event
tail (README: one worker), so an in-process hub sees every change.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger(__name__)
# Events kept for a console that reads slowly; beyond that it is dropped (it reconnects and
# catches up by fetching).
QUEUE_SIZE = 200


class Subscriber:
    """One open stream: its queue and the session it belongs to."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)

    async def get(self) -> tuple[str, dict[str, Any]]:
        """The next event."""
        return await self.queue.get()

    def put(self, kind: str, data: dict[str, Any]) -> bool:
        """Queue an event; False when the subscriber is too far behind."""
        try:
            self.queue.put_nowait((kind, data))
            return True
        except asyncio.QueueFull:
            return False

    def last(self, kind: str) -> None:
        """Drop what is queued and end the stream with `kind` ("close" or "logout")."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait((kind, {}))


class Hub:
    """The open console streams of this process."""

    def __init__(self) -> None:
        """No subscriber yet."""
        self.subscribers: set[Subscriber] = set()

    def subscribe(self, session: str) -> Subscriber:
        """A new stream of the session with this token hash."""
        subscriber = Subscriber(session)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a stream that ended."""
        self.subscribers.discard(subscriber)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Send an event to every stream; a stream that cannot keep up is closed."""
        for subscriber in list(self.subscribers):
            if not subscriber.put(kind, data):
                logger.warning("a console stream fell behind; closing it")
                self.subscribers.discard(subscriber)
                subscriber.last("close")

    def end_session(self, session: str) -> None:
        """Tell the streams of a session that ended (logout) and close them."""
        for subscriber in list(self.subscribers):
            if subscriber.session == session:
                subscriber.last("logout")

    def close_all(self) -> None:
        """End every stream (the server stops)."""
        for subscriber in list(self.subscribers):
            subscriber.last("close")
        self.subscribers.clear()
