"""Rasa's Pika (RabbitMQ) event broker, made to come back after the broker restarts.

`PikaEventBroker` (Rasa 3.6) relies on aio-pika's robust connection to reconnect and then
publishes the events it kept meanwhile. Measured with `make test-scale`: after a RabbitMQ
restart one of two replicas never published again (every event "failed", kept in memory, none
reached the handoff service), and an event published before the exchange exists is dropped
without a word. Here a failed publish keeps the event and opens a new connection in the
background; once it is up, the kept events go out in order. Rasa also logged the broker URL
with its password on every failure; this class logs the host only.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa.core.brokers.pika import PikaEventBroker

logger = logging.getLogger(__name__)
RETRY_SECONDS = 2.0


class ReconnectingPikaEventBroker(PikaEventBroker):
    """PikaEventBroker that reconnects itself after a failed publish and loses no event."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As PikaEventBroker; unpublished events are always kept."""
        kwargs["should_keep_unpublished_messages"] = True
        super().__init__(*args, **kwargs)
        self._reconnecting: asyncio.Task | None = None

    async def _publish(self, event: dict[str, Any], headers: dict[str, str] | None = None
                       ) -> None:
        if self._exchange is None or self._reconnecting is not None:
            self._unpublished_events.append(event)
            return
        try:
            await self._exchange.publish(self._message(event, headers), "")
        except Exception as error:  # noqa: BLE001 - any failure: keep it, reconnect
            self._unpublished_events.append(event)
            self._start_reconnect(error)

    def _start_reconnect(self, error: Exception) -> None:
        if self._reconnecting is None:
            logger.warning("RabbitMQ publish failed (%s); reconnecting, events are kept",
                           type(error).__name__)
            self._reconnecting = self._loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        """A new connection and exchange, then the kept events in order."""
        old, self._exchange = self._connection, None
        if old is not None:
            try:
                await asyncio.wait_for(old.close(), RETRY_SECONDS)
            except Exception:  # noqa: BLE001 - the old connection is gone either way
                logger.debug("closing the old RabbitMQ connection failed", exc_info=True)
        while True:
            try:
                await self.connect()
                break
            except Exception as error:  # noqa: BLE001 - not up yet
                logger.warning("RabbitMQ not reachable yet (%s)", type(error).__name__)
                await asyncio.sleep(RETRY_SECONDS)
        self._reconnecting = None
        kept = len(self._unpublished_events)
        self._publish_unpublished_messages()
        logger.info("RabbitMQ connection back; %d kept events sent", kept)
