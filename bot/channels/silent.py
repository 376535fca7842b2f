"""What every customer channel says when a turn failed behind the bot.

Rasa logs a crashed action or an unreachable action server and carries on without a reply, so
the customer would hear nothing. A channel that sees such a silent turn while no human agent
has the conversation (`is_paused`) answers `not_handled()` instead: the message was not
handled, try again, or call the hotline. While an agent has the conversation the bot is
quiet, except when handling the message raised: then `NOT_DELIVERED` asks to send it again,
since it may not have reached the agent. Used by the REST, widget and WeChat channels.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sanic import Sanic

from bot.faq import load_policy

logger = logging.getLogger(__name__)

NOT_HANDLED = (
    "抱歉，系统刚才出了点问题，您这条消息没能处理好。请稍等一两分钟再发一次；"
    "着急的话也可以拨打客服热线 {hotline}（{hotline_hours}）。"
)
# A message to the human agent whose handling raised: it may never have reached the agent (the
# handoff service learns of it from Rasa's stored events), so the customer is asked to resend.
NOT_DELIVERED = "抱歉，您刚才这条消息可能没有送到人工客服那里，麻烦稍等片刻再发一次。"
# Only if the policy file itself cannot be read: the apology must still go out.
NOT_HANDLED_NO_HOTLINE = (
    "抱歉，系统刚才出了点问题，您这条消息没能处理好。请稍等一两分钟再发一次，"
    "或回复「转人工」联系人工客服。"
)


def not_handled() -> str:
    """The apology for a turn that failed behind the bot, with the hotline from the policy."""
    try:
        policy = load_policy()
        return NOT_HANDLED.format(hotline=policy["hotline"],
                                  hotline_hours=policy["hotline_hours"])
    except Exception:  # noqa: BLE001 - a broken policy file must not silence the apology
        logger.exception("could not read the hotline from the policy")
        return NOT_HANDLED_NO_HOTLINE


def failed_turn_reply(channel: str, sender_id: str, failed: bool, paused: bool) -> str | None:
    """What a channel says after a turn in which the bot said nothing, or None to stay quiet.

    `failed`: handling the message raised (else the turn just produced no reply); `paused`: a
    human agent has the conversation, and the bot is meant to be quiet, unless the message may
    not have reached the agent. Otherwise the failure is logged and the customer gets the apology.
    """
    if paused:
        return NOT_DELIVERED if failed else None
    logger.error("%s turn of %s %s; answering with the apology", channel, sender_id,
                 "failed" if failed else "produced no reply")
    return not_handled()


async def handling_failed(deliver: Callable[[Any], Awaitable[Any]], message: Any,
                          channel: str) -> bool:
    """Hand a customer's message to Rasa (`deliver`); True when handling it raised, which is
    logged: the customer must hear something, whatever broke."""
    try:
        await deliver(message)
    except Exception:  # noqa: BLE001 - every failure behind the bot ends the same way
        logger.exception("%s message of %s could not be handled", channel,
                         getattr(message, "sender_id", None))
        return True
    return False


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
