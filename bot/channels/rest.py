"""Rasa's REST channel, without silent turns.

While a conversation is handed off, Rasa records the customer's messages but the bot stays
quiet (ConversationPaused), and the handoff service's pushes cannot reach a REST client: it only
ever sees the answer to its own request. Stock Rasa then answers `[]`. This channel answers
instead that the message went to the agent, or, for "算了不用了", that the request for a human is
being withdrawn (the handoff service cancels it and resumes the bot).

A turn that produced nothing although the bot is not paused means something behind Rasa
failed: the action server is down or an action crashed (Rasa logs it and carries on
silently). The customer then hears that the message was not handled and how to reach a person,
instead of nothing. Everything else is Rasa's RestInput: same name ("rest"), same URL
(/webhooks/rest/webhook), same JSON.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint

from bot.channels.silent import is_paused, not_handled
from handoff.events import is_cancel

logger = logging.getLogger(__name__)

FORWARDED = "您的消息已转给人工客服，客服会在这段对话里回复您。"
CANCELLING = "好的，正在为您取消人工客服，取消后我会继续为您服务。有问题直接发给我就行。"


class ShopRestInput(RestInput):
    """RestInput that answers every message, also while the conversation is paused."""

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        """Rasa's REST routes, with a note added to a turn that would have stayed silent."""

        async def handle(message: UserMessage) -> None:
            await on_new_message(message)
            collector = message.output_channel
            if isinstance(collector, CollectingOutputChannel) and not collector.messages:
                if await is_paused(message.sender_id):
                    text = CANCELLING if is_cancel(message.text or "") else FORWARDED
                else:
                    logger.error("turn of %s produced no reply; told the customer so",
                                 message.sender_id)
                    text = not_handled()
                await collector.send_text_message(message.sender_id or "", text)

        return super().blueprint(handle)
