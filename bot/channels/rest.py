"""Rasa's REST channel, without silent turns.

While a conversation is handed off, Rasa records the customer's messages but the bot stays
quiet (ConversationPaused), and the handoff service's pushes cannot reach a REST client: it only
ever sees the answer to its own request. Stock Rasa then answers `[]`. This channel answers
instead that the message went to the agent, or, for "算了不用了", that the request for a human is
being withdrawn (the handoff service cancels it and resumes the bot).

A turn that produced nothing although the bot is not paused means something behind Rasa
failed: the action server is down, an action crashed (Rasa logs it and carries on silently) or
handling the message raised (stock Rasa logs it and answers `[]`, or never ends a streamed
answer). The customer then hears that the message was not handled and how to reach a person
(`bot.channels.silent`), once, and the failure is logged as an error. Everything else is Rasa's
RestInput: same name ("rest"), same URL (/webhooks/rest/webhook), same JSON, also with
`?stream=true`.
"""
from __future__ import annotations

import logging
from asyncio import Queue
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.core.channels.rest import QueueOutputChannel, RestInput
from sanic import Blueprint

from bot.channels.silent import failed_turn_reply, is_paused
from handoff.events import is_cancel

logger = logging.getLogger(__name__)

FORWARDED = "您的消息已转给人工客服，客服会在这段对话里回复您。"
CANCELLING = "好的，正在为您取消人工客服，取消后我会继续为您服务。有问题直接发给我就行。"


class CountingQueueOutputChannel(QueueOutputChannel):
    """Rasa's output channel of a streamed answer, counting what it passed on.

    Its queue is drained while the turn runs, so only a count tells whether the bot said
    anything.
    """

    def __init__(self, message_queue: Queue | None = None) -> None:
        super().__init__(message_queue)
        self.sent = 0

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message(message)
        self.sent += 1


def has_replied(collector: OutputChannel) -> bool:
    """Whether the bot said anything in this turn (unknown channels: assume it did)."""
    if isinstance(collector, CountingQueueOutputChannel):
        return collector.sent > 0
    if isinstance(collector, CollectingOutputChannel) and isinstance(collector.messages, list):
        return bool(collector.messages)
    return True


class ShopRestInput(RestInput):
    """RestInput that answers every message, also while the conversation is paused."""

    @staticmethod
    async def on_message_wrapper(
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        text: str,
        queue: Queue,
        sender_id: str,
        input_channel: str,
        metadata: dict[str, Any] | None,
    ) -> None:
        """One streamed turn (`?stream=true`): Rasa's, but the stream always ends."""
        collector = CountingQueueOutputChannel(queue)
        message = UserMessage(
            text, collector, sender_id, input_channel=input_channel, metadata=metadata
        )
        try:
            await on_new_message(message)
        finally:
            await queue.put("DONE")

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        """Rasa's REST routes, with a note added to a turn that would have stayed silent."""

        async def handle(message: UserMessage) -> None:
            sender_id = message.sender_id or ""
            failed = False
            try:
                await on_new_message(message)
            except Exception:  # the customer must hear something, whatever broke
                logger.exception("REST message from %s could not be handled", sender_id)
                failed = True
            collector = message.output_channel
            if has_replied(collector):
                return  # a real answer (also one cut short by a failure) gets nothing added
            text = failed_turn_reply("REST", sender_id, failed, await is_paused(sender_id))
            if text is None:  # paused, and the message reached the agent: say so
                text = CANCELLING if is_cancel(message.text or "") else FORWARDED
            await collector.send_text_message(sender_id, text)

        return super().blueprint(handle)
