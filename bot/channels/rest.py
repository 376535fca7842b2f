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
from sanic import Blueprint, Sanic

from bot.faq import load_policy
from handoff.events import is_cancel

logger = logging.getLogger(__name__)

FORWARDED = "您的消息已转给人工客服，客服会在这段对话里回复您。"
CANCELLING = "好的，正在为您取消人工客服，取消后我会继续为您服务。有问题直接发给我就行。"
NOT_HANDLED = (
    "抱歉，系统刚才出了点问题，您这条消息没能处理好。请稍等一两分钟再发一次；"
    "着急的话也可以拨打客服热线 {hotline}（{hotline_hours}）。"
)


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


def not_handled() -> str:
    """The apology for a turn that failed behind the bot, with the hotline from the policy."""
    policy = load_policy()
    return NOT_HANDLED.format(hotline=policy["hotline"], hotline_hours=policy["hotline_hours"])


async def is_paused(sender_id: str | None) -> bool:
    """Whether the conversation is handed off (paused) right now, per Rasa's tracker store."""
    try:
        # The Rasa server's app ("rasa_server" with the HTTP API, else "rasa_core_no_api").
        agent = next(app.ctx.agent for app in Sanic._app_registry.values()
                     if getattr(app.ctx, "agent", None) is not None)
        tracker = await agent.tracker_store.retrieve(sender_id or "")
    except Exception:  # noqa: BLE001 - an unknown state must not break the customer's turn
        logger.exception("could not read the tracker of %s", sender_id)
        return False
    return bool(tracker and tracker.is_paused())
