"""Customer messages of handed-off conversations from RabbitMQ (the production profile).

Rasa's Pika event broker (endpoints.production.yml) publishes every tracker event to a
durable queue. The service consumes it instead of polling the SQL broker table: each message
is acknowledged only after its event was processed (recorded in the store, or found to concern
no open handoff), so a service that dies mid-way gets the unacknowledged messages again from
RabbitMQ; the store records each customer message once, by a key made of the conversation and
the event's time, so a redelivery adds nothing. After a broker restart the consumer connects
again by itself.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from handoff.events import CustomerMessage, customer_message, record_message
from handoff.store import Store

logger = logging.getLogger(__name__)
# Messages handed to the service before it acknowledged earlier ones.
PREFETCH = 50
RECONNECT_SECONDS = 2.0

React = Callable[[list[tuple[dict[str, Any], CustomerMessage]]], Awaitable[None]]


class BrokerConsumer:
    """Consumes Rasa's event queue and records customer messages of open handoffs."""

    def __init__(self, store: Store, url: str, queue: str, react: React) -> None:
        """`react` acts on the messages added (cancellations, queue notices)."""
        self.store, self.url, self.queue, self.react = store, url, queue, react
        self.processed = 0

    async def handle(self, message: AbstractIncomingMessage) -> None:
        """Process one queue message, then acknowledge it; a failure leaves it for later."""
        try:
            event = customer_message(0, "", message.body, key="")
            if event is not None:
                loop = asyncio.get_running_loop()
                added = await loop.run_in_executor(None, record_message, self.store, event)
                await self.react(added)
        except Exception:  # noqa: BLE001 - back to the queue, delivered again
            logger.exception("event from the broker not processed; it will come again")
            await message.nack(requeue=True)
            await asyncio.sleep(RECONNECT_SECONDS)
            return
        await message.ack()
        self.processed += 1

    async def run(self) -> None:
        """Consume until cancelled; a new connection whenever the broker went away.

        Not aio-pika's robust connection: in `make test-scale` it did not consume again after
        a RabbitMQ restart, and the customer messages published meanwhile never arrived."""
        while True:
            try:
                await self._consume_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the broker is not up (yet)
                logger.warning("event broker not reachable (%s); retrying", error)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _consume_once(self) -> None:
        """Consume on one connection until it or its channel closes."""
        connection = await aio_pika.connect(self.url)
        closed = asyncio.Event()
        connection.close_callbacks.add(lambda *_: closed.set())
        try:
            channel = await connection.channel()
            channel.close_callbacks.add(lambda *_: closed.set())
            await channel.set_qos(prefetch_count=PREFETCH)
            # Declared as Rasa declares it, so whichever starts first creates it.
            queue = await channel.declare_queue(self.queue, durable=True)
            await queue.consume(self.handle)
            logger.info("consuming Rasa's events from queue %s", self.queue)
            await closed.wait()
            logger.warning("connection to the event broker lost; reconnecting")
        finally:
            if not connection.is_closed:
                try:
                    await asyncio.wait_for(connection.close(), RECONNECT_SECONDS)
                except Exception:  # noqa: BLE001 - gone either way
                    logger.debug("closing the broker connection failed", exc_info=True)
