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
`?stream=true`. A client may add `"message_id"` to a message: sent again with the same id (its
answer was lost), the message is not handled twice and its answers come again (`once.py`).
"""
from __future__ import annotations

import json
import logging
import re
from asyncio import Queue
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.core.channels.rest import QueueOutputChannel, RestInput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from bot.channels.api_guard import GuardedBlueprint
from bot.channels.edge import (
    TOO_FAST,
    EdgeError,
    check_message,
    check_sender,
    is_too_long,
    limiters,
    parse_json_object,
    too_long_reply,
)
from bot.channels.once import MESSAGE_ID, handle_once
from bot.channels.silent import failed_turn_reply, handling_failed, is_paused
from bot.settings import RasaSettings
from contracts.handoff import is_cancel
from contracts.profile import is_production

logger = logging.getLogger(__name__)

FORWARDED = "您的消息已转给人工客服，客服会在这段对话里回复您。"
# Ids of other channels' conversations: a REST client must not write into them.
FOREIGN_SENDERS = (re.compile(r"^[0-9a-f]{32}$"), re.compile(r"^wechat_"))
_dumps = partial(json.dumps, ensure_ascii=False)
# Messages of one sender handled at once; Rasa handles them one after another anyway.
MAX_IN_FLIGHT = 3
WAIT_FOR_REPLY = "我还在处理您前面的消息，请稍等我回复后再发。"
CANCELLING = "好的，正在为您取消人工客服，取消后我会继续为您服务。有问题直接发给我就行。"


def check_message_id(value: Any) -> str | None:
    """The client's id of its message (optional; the same when it sends the message again:
    bot/channels/once.py), or EdgeError(400)."""
    if value is None:
        return None
    if not isinstance(value, str) or not MESSAGE_ID.match(value):
        raise EdgeError(400, "invalid_message_id",
                        "message_id 只能包含英文字母、数字和 _ . : -，长度 1-64。")
    return value


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
    """RestInput that validates at the edge and answers every message, also while paused.

    Identity comes from the channel: the conversation is the body's `sender` (required, of
    the form `bot.channels.edge.check_sender` allows, never another channel's id), its
    channel is always `rest` and client-sent metadata is dropped. Bodies are JSON objects of
    at most 16 KB; per-sender and per-address rate limits answer 429.
    """

    def __init__(self) -> None:
        """Rate limiters from the environment (RATE_LIMIT_PER_SENDER, _PER_ADDRESS). In
        production the Rasa server does not start with the development API token."""
        super().__init__()
        settings = RasaSettings.from_env(refuse=False)
        if is_production():
            settings.refuse_dev_secrets("rasa_token")
        self.per_sender, self.per_address = limiters(settings)
        self.busy: Counter[str] = Counter()

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
        except Exception:  # noqa: BLE001 - logged by the handler; the stream still ends
            logger.exception("streamed REST message from %s could not be handled", sender_id)
        finally:
            await queue.put("DONE")

    def admit(self, request: Request) -> tuple[str, str, str | None]:
        """The sender, the cleaned text and the client's message id of a request, or
        EdgeError. A message sent again with its id is not rate-limited again."""
        body = parse_json_object(request.body)
        sender = check_sender(body.get("sender"), refused=FOREIGN_SENDERS)
        text = check_message(body.get("message"))
        message_id = check_message_id(body.get("message_id"))
        address = request.remote_addr or request.ip or "unknown"
        if not self.per_address.allow(address) or not self.per_sender.allow(sender):
            raise EdgeError(429, "rate_limited", TOO_FAST)
        return sender, text, message_id

    def take_turn(self, sender: str) -> None:
        """Count a message of `sender` being handled; refuse one more than MAX_IN_FLIGHT, so
        a burst cannot queue behind the conversation lock for longer than a client waits."""
        if self.busy[sender] >= MAX_IN_FLIGHT:
            raise EdgeError(429, "busy", WAIT_FOR_REPLY)
        self.busy[sender] += 1

    def end_turn(self, sender: str) -> None:
        """The message of `sender` is handled."""
        self.busy[sender] -= 1
        if self.busy[sender] <= 0:
            del self.busy[sender]

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        """POST /webhooks/rest/webhook (also `?stream=true`) and GET /webhooks/rest/."""

        async def handle(message: UserMessage,
                         deliver: Callable[[UserMessage], Awaitable[Any]] = on_new_message
                         ) -> None:
            sender_id = message.sender_id or ""
            failed = await handling_failed(deliver, message, "REST")
            collector = message.output_channel
            if has_replied(collector):
                return  # a real answer (also one cut short by a failure) gets nothing added
            text = failed_turn_reply("REST", sender_id, failed, await is_paused(sender_id))
            if text is None:  # paused, and the message reached the agent: say so
                text = CANCELLING if is_cancel(message.text or "") else FORWARDED
            await collector.send_text_message(sender_id, text)

        webhook = GuardedBlueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse | ResponseStream:
            try:
                sender_id, text, message_id = self.admit(request)
                if is_too_long(text):
                    reply = [{"recipient_id": sender_id, "text": too_long_reply()}]
                    return response.json(reply, dumps=_dumps)
                if bool_arg(request, "stream", default=False):
                    return response.stream(
                        self.stream_response(handle, text, sender_id, self.name(), None),
                        content_type="text/event-stream",
                    )
                collector = CollectingOutputChannel()
                agent = getattr(request.app.ctx, "agent", None)
                deliver = on_new_message if message_id is None or agent is None \
                    else partial(handle_once, agent)
                self.take_turn(sender_id)
                try:
                    await handle(UserMessage(text, collector, sender_id, input_channel=self.name(),
                                             message_id=message_id), deliver)
                finally:  # also when the client went away and the handler is cancelled
                    self.end_turn(sender_id)
                return response.json(collector.messages, dumps=_dumps)
            except EdgeError as error:
                return response.json(error.body(), status=error.status, dumps=_dumps)

        return webhook
