"""A customer message handled at most once, also when its client sends it again.

With several Rasa replicas a client can lose the answer to a message that was handled: the
replica died after saving the turn but before answering, or the load balancer gave up on it.
The client then sends the same message again, with the same `message_id`. Rasa would handle
it a second time (a second answer in the conversation, a second handoff or refund request).

Here the message is handled inside the conversation's lock (Rasa's lock store: Redis in
production, so one replica at a time), after looking in the saved conversation for a customer
message with the same id:
- not there: the first delivery never got saved (the replica died before the end of the turn,
  when Rasa saves user message and answers together), so it is handled now, normally;
- there: it was handled; the answers saved after it are sent again and nothing is handled.
Rasa saves a turn in one transaction, so there is no state in between. Backend calls of a turn
that died before its save are repeated when the turn is handled again; the actions' own
idempotency keys use the message id, so the shop and the handoff service see the same request.
"""
from __future__ import annotations

import re
from typing import Any

from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

# What a client may send as message id: it is stored with the message and logged.
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def earlier_answers(tracker: DialogueStateTracker | None, message_id: str
                    ) -> list[dict[str, Any]] | None:
    """The answers to the saved customer message `message_id`, or None when the conversation
    has no such message (it was never handled)."""
    if tracker is None:
        return None
    answers: list[dict[str, Any]] | None = None
    for event in tracker.events:
        if isinstance(event, UserUttered):
            if answers is not None:
                break  # the next customer message: the answers to ours are complete
            if event.message_id == message_id:
                answers = []
        elif answers is not None and isinstance(event, BotUttered):
            answers.append(_response(event))
    return answers


def _response(event: BotUttered) -> dict[str, Any]:
    """A saved bot message as an output channel's response dictionary."""
    response = {key: value for key, value in (event.data or {}).items() if value}
    if event.text:
        response["text"] = event.text
    return response


async def handle_once(agent: Agent, message: UserMessage) -> bool:
    """Handle `message` unless its id was handled already; then resend its answers. Returns
    whether it was handled now."""
    async with agent.lock_store.lock(message.sender_id):
        tracker = await agent.tracker_store.retrieve(message.sender_id)
        answers = earlier_answers(tracker, message.message_id)
        if answers is None:
            await agent.processor.handle_message(message)
            return True
    for response in answers:
        await message.output_channel.send_response(message.sender_id, response)
    return False
